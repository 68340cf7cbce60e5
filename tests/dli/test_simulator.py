"""The simulator's protocol, poked with plain aiohttp: auth, CSRF, paths, matrix selectors, control endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import aiohttp
import pytest

from powerstrip_sim.dli import DliSimulator, Faults
from powerstrip_sim.dli.digest import parse_auth_params
from tests.dli.conftest import PASSWORD, FakeClock, StartSim

Session = Callable[..., aiohttp.ClientSession]


async def test_digest_challenge(start_sim: StartSim) -> None:
    sim = await start_sim("pro")
    async with aiohttp.ClientSession() as s, s.get(f"{sim.url}/restapi/relay/outlets/") as resp:
        assert resp.status == 401
        scheme, _, params = resp.headers["WWW-Authenticate"].partition(" ")
    p = parse_auth_params(params)
    assert scheme == "Digest"
    assert p["qop"] == "auth" and p["algorithm"] == "MD5"
    assert p["realm"] and p["nonce"] and p["opaque"]


async def test_digest_login_and_wrong_password(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    async with raw_session().get(f"{sim.url}/restapi/relay/outlets/0/name/") as resp:
        assert resp.status == 200
        assert await resp.text() == '"Outlet 1"'
    async with raw_session(password="wrong").get(f"{sim.url}/restapi/relay/outlets/0/name/") as resp:
        assert resp.status == 401
    async with raw_session(username="nobody").get(f"{sim.url}/restapi/relay/outlets/0/name/") as resp:
        assert resp.status == 401


CSRF = {"X-CSRF": "x"}


async def test_basic_off_by_default_and_optional(start_sim: StartSim, raw_session: Session) -> None:
    off = await start_sim("pro")
    on = await start_sim("pro", allow_basic=True)
    async with raw_session(auth="basic").get(f"{off.url}/restapi/relay/model/") as resp:
        assert resp.status == 401
    async with raw_session(auth="basic").get(f"{on.url}/restapi/relay/model/") as resp:
        assert resp.status == 200 and await resp.json() == "LPC9"
    async with raw_session(auth="basic", password="nope").get(f"{on.url}/restapi/relay/model/") as resp:
        assert resp.status == 401


@pytest.mark.parametrize("locked", [False, True])
async def test_lock_is_read_only_over_rest(start_sim: StartSim, raw_session: Session, locked: bool) -> None:
    """DLI: "Locking or Unlocking Outlets: you must use the keypad or uom". Neither way over REST."""
    sim = await start_sim("pro")
    sim.device.outlets[2].locked = locked  # as set at the keypad
    s = raw_session()
    for path in ("relay/outlets/2/locked/", "relay/outlets/all;/locked/", "relay/outlets/=2/locked/"):
        async with s.put(f"{sim.url}/restapi/{path}", data={"value": str(not locked).lower()}, headers=CSRF) as resp:
            assert resp.status == 403, path
            assert "cannot be set over the REST API" in await resp.text()
    assert [o.locked for o in sim.device.outlets] == [i == 2 and locked for i in range(8)]
    async with s.get(f"{sim.url}/restapi/relay/outlets/2/locked/") as resp:
        assert (resp.status, await resp.json()) == (200, locked)


async def test_csrf_required_on_writes(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    s = raw_session()
    url = f"{sim.url}/restapi/relay/outlets/2/state/"
    async with s.put(url, data={"value": "true"}) as resp:
        assert resp.status == 403
    assert sim.device.outlets[2].state is False
    async with s.put(url, data={"value": "true"}, headers={"X-Requested-With": "XMLHttpRequest"}) as resp:
        assert resp.status == 204
    async with s.put(url, data={"value": "false"}, headers={"X-CSRF": "x"}) as resp:
        assert resp.status == 204
        assert await resp.read() == b""
    async with s.post(f"{sim.url}/restapi/system/reboot/") as resp:
        assert resp.status == 403
    assert sim.device.boots == 0


async def test_trailing_slash_redirect(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    async with raw_session().get(f"{sim.url}/restapi/relay/outlets/1/state", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/restapi/relay/outlets/1/state/"
    async with raw_session().get(f"{sim.url}/restapi/relay/outlets/1/state") as resp:
        assert resp.status == 200 and await resp.text() == "true"
        assert str(resp.url).endswith("/state/")


async def test_bare_scalars_and_accept(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("epcr")
    for path, body in (
        ("relay/outlets/2/physical_state/", "false"),
        ("relay/outlets/2/cycle_delay/", "null"),
        ("config/version/", '"1.13.16.0"'),
        ("meter/values/bus.0.voltage/value/", "120.0"),
    ):
        async with raw_session().get(f"{sim.url}/restapi/{path}") as resp:
            assert (resp.status, resp.content_type, await resp.text()) == (200, "application/json", body)
    async with raw_session(accept_json=False).get(f"{sim.url}/restapi/relay/outlets/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"  # GUESS: browsable view


async def test_outlet_objects_have_the_seven_fields(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    async with raw_session().get(f"{sim.url}/restapi/relay/outlets/") as resp:
        outlets = await resp.json()
    assert len(outlets) == 8
    assert all(
        set(o) == {"name", "state", "transient_state", "physical_state", "locked", "critical", "cycle_delay"}
        for o in outlets
    )


async def test_matrix_reads(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    s = raw_session()
    cases = {
        "relay/outlets/all;/physical_state/": [True, True, False, True, False, False, False, False],
        "relay/outlets/=0,4/state/": [True, False],
        "relay/outlets/=2/name/": ["Outlet 3"],  # a single-element selector is still an array
        "relay/outlets/all;/=name,physical_state/": [
            "Outlet 1", True, "Outlet 2", True, "Outlet 3", False, "Outlet 4", True,
            "Outlet 5", False, "Outlet 6", False, "Outlet 7", False, "Outlet 8", False,
        ],
        "relay/outlets/all;critical=true/name/": ["Outlet 1"],
        "relay/outlets/state=true/name/": ["Outlet 1", "Outlet 2", "Outlet 4"],
    }  # fmt: skip
    for path, expected in cases.items():
        async with s.get(f"{sim.url}/restapi/{path}") as resp:
            assert resp.status == 207, path
            assert await resp.json() == expected, path
            assert len(resp.headers.getall("Link")) == len(expected)
    async with s.get(f"{sim.url}/restapi/relay/outlets/=0,4/state/") as resp:
        assert resp.headers.getall("Link") == [
            '</restapi/relay/outlets/0/state/>; rel="item"',
            '</restapi/relay/outlets/4/state/>; rel="item"',
        ]


async def test_matrix_writes(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    s = raw_session()
    csrf = {"X-CSRF": "x"}
    async with s.put(f"{sim.url}/restapi/relay/outlets/=0,4/state/", data={"value": "true"}, headers=csrf) as resp:
        assert resp.status == 207
        assert await resp.json() == [None, None]
    assert [o.state for o in sim.device.outlets] == [True, True, False, True, True, False, False, False]
    async with s.put(f"{sim.url}/restapi/relay/outlets/all;/state/", data={"value": "false"}, headers=csrf) as resp:
        assert resp.status == 207
    assert not any(o.physical for o in sim.device.outlets)
    body = json.dumps([[[0, True], [7, True]]])
    headers = {**csrf, "Content-Type": "application/json"}
    async with s.post(f"{sim.url}/restapi/relay/set_outlet_transient_states/", data=body, headers=headers) as resp:
        assert resp.status == 204
    assert [o.transient_state for o in sim.device.outlets] == [True] + [False] * 6 + [True]
    assert [o.state for o in sim.device.outlets] == [False] * 8


async def test_json_literal_body_and_bad_values(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    s = raw_session()
    headers = {"X-CSRF": "x", "Content-Type": "application/json"}
    async with s.put(f"{sim.url}/restapi/relay/outlets/2/state/", data="true", headers=headers) as resp:
        assert resp.status == 204
    assert sim.device.outlets[2].state is True
    async with s.put(
        f"{sim.url}/restapi/relay/outlets/2/state/", data={"value": "True"}, headers={"X-CSRF": "x"}
    ) as resp:
        assert resp.status == 400  # lowercase only (GUESS, as real clients all send lowercase)
    async with s.put(f"{sim.url}/restapi/relay/outlets/2/physical_state/", data="false", headers=headers) as resp:
        assert resp.status == 403  # read-only
    async with s.put(f"{sim.url}/restapi/relay/outlets/2/name/", data='"Router"', headers=headers) as resp:
        assert resp.status == 204
    assert sim.device.outlets[2].name == "Router"


async def test_matrix_write_to_a_locked_outlet_changes_nothing(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    sim.device.outlets[5].locked = True
    url = f"{sim.url}/restapi/relay/outlets/all;/state/"
    async with raw_session().put(url, data={"value": "true"}, headers={"X-CSRF": "x"}) as resp:
        assert resp.status == 409
    assert [o.state for o in sim.device.outlets] == [True, True, False, True, False, False, False, False]


async def test_unknown_paths_404(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    for path in ("relay/outlets/8/", "relay/nothing/", "meter/values/", "nothing/"):
        async with raw_session().get(f"{sim.url}/restapi/{path}") as resp:
            assert resp.status == 404, path


async def test_depth_range(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    async with raw_session().get(f"{sim.url}/restapi/relay/", headers={"Range": "dli-depth=1"}) as resp:
        assert resp.status == 206
        body = await resp.json()
    assert body["outlets"] == {"$ref": "outlets/"}
    assert body["model"] == "LPC9"


async def test_scripts_admin_only(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro", users={"viewer": ("view-pw", False)})
    admin, viewer = raw_session(), raw_session("viewer", "view-pw")
    headers = {"X-CSRF": "x", "Content-Type": "application/json"}
    start = json.dumps([{"user_function": "flash_a_light"}])
    async with admin.post(f"{sim.url}/restapi/script/start/", data=start, headers=headers) as resp:
        assert resp.status == 200 and await resp.json() == "1"
    async with admin.get(f"{sim.url}/restapi/script/threads/") as resp:
        assert await resp.json() == {"1": {"label": "flash_a_light"}}
    async with viewer.get(f"{sim.url}/restapi/script/threads/") as resp:
        assert resp.status == 403
    async with viewer.put(
        f"{sim.url}/restapi/relay/outlets/2/state/", data={"value": "true"}, headers={"X-CSRF": "x"}
    ) as resp:
        assert resp.status == 204  # non-admins may toggle outlets
    async with viewer.post(f"{sim.url}/restapi/system/reboot/", headers={"X-CSRF": "x"}) as resp:
        assert resp.status == 403
    async with admin.post(f"{sim.url}/restapi/script/stop/", data='["all"]', headers=headers) as resp:
        assert resp.status == 200
    assert sim.device.threads == {}


async def test_reboot_clears_a_pending_cycle(start_sim: StartSim, raw_session: Session, clock: FakeClock) -> None:
    sim = await start_sim("pro", clock=clock)
    sim.device.cycle(0)
    assert sim.device.outlets[0].physical is False
    async with raw_session().post(f"{sim.url}/restapi/system/reboot/", headers={"X-CSRF": "x"}) as resp:
        assert resp.status == 204
    assert (sim.device.outlets[0].physical, sim.device.outlets[0].pending_at) == (True, None)


async def test_control_endpoint(start_sim: StartSim, raw_session: Session) -> None:
    sim = await start_sim("pro")
    async with aiohttp.ClientSession() as s:  # no auth needed for /_sim
        async with s.put(f"{sim.url}/_sim/faults", json={"http_status": 503, "latency": 0.01}) as resp:
            assert resp.status == 200
            assert (await resp.json())["http_status"] == 503
        assert sim.faults == Faults(http_status=503, latency=0.01)
        async with raw_session().get(f"{sim.url}/restapi/relay/outlets/") as resp:
            assert resp.status == 503
        async with s.put(f"{sim.url}/_sim/faults", json={"bogus": True}) as resp:
            assert resp.status == 400
            assert "unknown fault 'bogus'" in (await resp.json())["error"]
        async with s.put(f"{sim.url}/_sim/faults", json={"http_status": 200}) as resp:
            assert resp.status == 400
        async with s.delete(f"{sim.url}/_sim/faults") as resp:
            assert (await resp.json())["http_status"] is None
        async with raw_session().get(f"{sim.url}/restapi/relay/outlets/") as resp:
            assert resp.status == 200
        async with s.get(f"{sim.url}/_sim/stats") as resp:
            stats = await resp.json()
        assert stats["requests"]["GET /restapi/relay/outlets/"] == 1  # the 503 was not counted as answered
        async with s.get(f"{sim.url}/_sim/stats", params={"before": str(time.time() + 60)}) as resp:
            cut = await resp.json()
        assert (cut["requests"], cut["total"]) == (stats["requests"], stats["total"])
        assert cut["challenges"] == stats["challenges"]
        async with s.get(f"{sim.url}/_sim/stats", params={"before": "1000"}) as resp:
            early = await resp.json()
        assert (early["requests"], early["total"], early["challenges"]) == ({}, 0, 0)  # nothing by 1970
        async with s.delete(f"{sim.url}/_sim/stats", params={"before": "soon"}) as resp:
            assert resp.status == 400 and "before" in (await resp.json())["error"]
        assert sim.stats.total == stats["total"] > 0  # a refused DELETE resets nothing
        async with s.put(f"{sim.url}/_sim/faults", json={"locked_outlets": [1]}) as resp:
            assert resp.status == 200
        async with s.get(f"{sim.url}/_sim/state") as resp:
            state = await resp.json()
        assert state["outlets"][1]["locked"] is True and state["model"] == "pro"


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="latency"):
        Faults().merged({"latency": -1})
    with pytest.raises(ValueError, match="locked_outlets"):
        Faults().merged({"locked_outlets": [True]})
    assert Faults().merged({"path_prefix": "/meter/"}).path_prefix == "meter/"


def test_unknown_model_and_meter_role() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        DliSimulator("epc9")
    with pytest.raises(ValueError, match="unknown meter role"):
        DliSimulator("epcr", meter_keys={"bus_volts": "x"})


async def test_fifty_devices_in_one_process(raw_session: Session) -> None:
    """Cheap enough for the benchmark: 50 simulators, each answering a digest-authenticated read."""
    sims = [DliSimulator("epcr", password=PASSWORD) for _ in range(50)]
    try:
        for sim in sims:
            await sim.start()
        assert len({sim.port for sim in sims}) == 50
        for sim in sims:  # digest credentials are scoped to one origin: one session per device
            async with raw_session().get(f"{sim.url}/restapi/meter/values/") as resp:
                assert resp.status == 200
    finally:
        for sim in sims:
            await sim.stop()


async def test_port_in_use_fails_cleanly(start_sim: StartSim) -> None:
    taken = await start_sim("pro")
    with pytest.raises(OSError):
        await DliSimulator("pro", port=taken.port).start()
