"""The client against the real simulator: every endpoint, and every auth error it answers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.errors import CloudTraxError, CloudTraxNotFoundError
from exporter.sources.cloudtrax.signing import signed_headers
from powerstrip_sim.cloudtrax import CloudTraxSimulator, SimulatorOptions
from tests.cloudtrax.conftest import KEY, SECRET, SEED_NETWORK

OTHER_KEY = "ab" * 32
OTHER_SECRET = "cd" * 32


async def auth_error(coro: Any) -> CloudTraxError:
    with pytest.raises(CloudTraxError) as info:
        await coro
    err = info.value
    assert err.reason == "auth"
    for secret in (KEY, SECRET, OTHER_KEY, OTHER_SECRET):
        assert secret not in str(err)
    return err


async def raw_get(sim: CloudTraxSimulator, path_qs: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.url + path_qs, headers=headers) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


def headers_for(
    sim: CloudTraxSimulator, signed_path: str, *, nonce: str = "Nonce123", **override: str
) -> dict[str, str]:
    headers = signed_headers(KEY, SECRET, signed_path, b"", timestamp=int(sim.now()), nonce=nonce)
    headers.update(override)
    return headers


# -- endpoints ------------------------------------------------------------------


async def test_every_endpoint_round_trip(sim: CloudTraxSimulator, client: CloudTraxClient) -> None:
    assert abs((await client.server_time()).timestamp() - sim.now()) < 5
    assert [n.id for n in await client.list_networks()] == [SEED_NETWORK]
    assert [s.powerstrip_id for s in await client.list_powerstrips(SEED_NETWORK)] == [1, 2]
    assert (await client.get_powerstrip(1)).ports[3].active_power_w == 25.5

    sid = await client.create_powerstrip(SEED_NETWORK, mac="ac:86:74:00:10:01", name="garage", model="P60")
    assert (await client.get_powerstrip(sid)).name == "garage"
    await client.update_powerstrip(sid, {"name": "garage 2", "description": "by the door"})
    updated = await client.get_powerstrip(sid)
    assert (updated.name, updated.description) == ("garage 2", "by the door")
    assert (await client.set_port_enabled(sid, 2, False)).code == 1009
    assert [p.enable for p in (await client.get_powerstrip(sid)).ports] == [True, False, True, True, True, True]

    sim.state.strips[sid].created -= 60 * 86400  # usage history starts at creation; give it some
    for period, count in (("2hours", 24), ("day", 288), ("week", 288), ("month", 288)):
        samples = await client.get_usage(sid, period)  # type: ignore[arg-type]
        assert len(samples) == count
        assert samples == sorted(samples, key=lambda s: s.time)
    assert len(await client.get_usage(1, "day")) == 24  # seeded usage

    for action in (client.checkin_powerstrip, client.reboot_powerstrip, client.enable_pairing):
        result = await action(sid)
        assert (result.status, result.code, result.message) == (200, 1009, "Success.")
    assert (await client.reset_port(sid, 1)).code == 1009

    settings = await client.get_network_settings(SEED_NETWORK)
    assert settings.firmware_tag == "stable"
    await client.update_network_settings(SEED_NETWORK, {"firmware_tag": "beta", "enable_upgrade": True})
    settings = await client.get_network_settings(SEED_NETWORK)
    assert (settings.firmware_tag, settings.enable_upgrade) == ("beta", True)
    assert (await client.expedite_upgrade(SEED_NETWORK)).code == 1009
    assert sim.state.networks[SEED_NETWORK].upgrades_expedited == 1
    assert [f.tag for f in await client.list_firmware_versions(SEED_NETWORK)] == ["stable", "beta"]

    await client.delete_powerstrip(sid)
    with pytest.raises(CloudTraxNotFoundError):
        await client.get_powerstrip(sid)
    assert [s.powerstrip_id for s in await client.list_powerstrips(SEED_NETWORK)] == [1, 2]


async def test_validation_errors_keep_codes(client: CloudTraxClient) -> None:
    with pytest.raises(CloudTraxError) as info:
        await client.create_powerstrip(SEED_NETWORK, mac="not-a-mac", name="x")
    assert (info.value.reason, info.value.code, info.value.status) == ("http_status", 1008, 403)
    with pytest.raises(CloudTraxError) as info:
        await client.create_powerstrip(SEED_NETWORK, mac="ac:86:74:00:00:00", name="dup")
    assert info.value.code == 17000
    with pytest.raises(CloudTraxError) as info:
        await client.update_network_settings(SEED_NETWORK, {"firmware_tag": "Bad Tag!"})
    assert info.value.code == 12002


async def test_empty_action_bodies_are_success() -> None:
    async with (
        CloudTraxSimulator(
            seed_payloads=True, key=KEY, secret=SECRET, options=SimulatorOptions(action_body="empty")
        ) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as c,
    ):
        result = await c.reboot_powerstrip(1)
        assert (result.status, result.code) == (200, None)


# -- auth -------------------------------------------------------------------------


async def test_13000_wrong_secret(sim: CloudTraxSimulator) -> None:
    async with CloudTraxClient(KEY, OTHER_SECRET, base_url=sim.url) as c:
        err = await auth_error(c.list_powerstrips(SEED_NETWORK))
    assert (err.code, err.status) == (13000, 401)


async def test_13000_when_the_query_is_not_signed(sim: CloudTraxSimulator) -> None:
    path = "/powerstrip/1/usage"
    status, body = await raw_get(sim, path + "?period=day", headers_for(sim, path))
    assert (status, body["errors"][0]["code"]) == (401, 13000)


async def test_lenient_mode_accepts_an_unsigned_query() -> None:
    options = SimulatorOptions(query_signing="lenient")
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, options=options) as sim:
        path = "/powerstrip/1/usage"
        status, body = await raw_get(sim, path + "?period=day", headers_for(sim, path))
        assert status == 200 and len(body["usage"]) == 24


async def test_13001_exact_documented_body(sim: CloudTraxSimulator) -> None:
    status, body = await raw_get(sim, "/network/list", {})
    assert status == 401
    assert body == {
        "errors": [{"code": 13001, "message": "No nonce or timestamp in header.", "context": "authorize", "values": {}}]
    }


async def test_13002_skew_is_corrected_with_one_time_call() -> None:
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, clock_offset=3600.0) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as c,
    ):
        assert len(await c.list_powerstrips(SEED_NETWORK)) == 2
        assert abs(c.clock_offset - 3600.0) < 3
        assert sim.request_counts() == {"GET /powerstrip/network/{network_id}/list": 2, "GET /time": 1}
        await c.get_powerstrip(1)
        assert sim.request_counts()["GET /time"] == 1  # corrected once, not per call


async def test_13002_corrected_from_date_header_when_time_needs_auth() -> None:
    options = SimulatorOptions(time_requires_auth=True)
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, clock_offset=-7200.0, options=options) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as c,
    ):
        assert len(await c.list_powerstrips(SEED_NETWORK)) == 2
        assert abs(c.clock_offset + 7200.0) < 3


async def test_signature_is_checked_before_the_clock(sim: CloudTraxSimulator) -> None:
    headers = headers_for(sim, "/network/list", Authorization=f"key={KEY},timestamp=1,nonce=x", Signature="00")
    status, body = await raw_get(sim, "/network/list", headers)
    assert (status, body["errors"][0]["code"]) == (401, 13000)


async def test_13002_raw_stale_timestamp(sim: CloudTraxSimulator) -> None:
    stale = signed_headers(KEY, SECRET, "/network/list", b"", timestamp=int(sim.now()) - 901, nonce="Stale1")
    status, body = await raw_get(sim, "/network/list", stale)
    assert (status, body["errors"][0]["code"]) == (401, 13002)


async def test_13003_nonce_reuse(sim: CloudTraxSimulator) -> None:
    async with CloudTraxClient(KEY, SECRET, base_url=sim.url, nonce=lambda: "SameNonce1") as c:
        await c.list_powerstrips(SEED_NETWORK)
        err = await auth_error(c.list_powerstrips(SEED_NETWORK))
    assert err.code == 13003


async def test_13004_wrong_version(sim: CloudTraxSimulator) -> None:
    status, body = await raw_get(
        sim, "/network/list", headers_for(sim, "/network/list", **{"OpenMesh-API-Version": "2"})
    )
    assert (status, body["errors"][0]["code"]) == (400, 13004)


@pytest.mark.parametrize("version", [None, "", "0", "1"], ids=["missing", "empty", "0", "1"])
async def test_a_missing_version_header_is_version_0_and_accepted(sim: CloudTraxSimulator, version: str | None) -> None:
    """The vendor README: "0 assumed if this header is missing"; the simulator answers 0 like 1."""
    headers = headers_for(sim, "/network/list", nonce=f"Version{version or 'none'}")
    if version is None:
        del headers["OpenMesh-API-Version"]
    else:
        headers["OpenMesh-API-Version"] = version
    status, body = await raw_get(sim, "/network/list", headers)
    assert status == 200, body
    assert [n["id"] for n in body["networks"]] == [SEED_NETWORK]


async def test_13009_network_key_outside_its_network(sim: CloudTraxSimulator) -> None:
    sim.state.add_network(999, "other")
    sim.add_key(OTHER_KEY, OTHER_SECRET, network_id=999)
    async with CloudTraxClient(OTHER_KEY, OTHER_SECRET, base_url=sim.url) as c:
        assert [n.id for n in await c.list_networks()] == [999]
        assert await c.list_powerstrips(999) == []
        err = await auth_error(c.list_powerstrips(SEED_NETWORK))
        assert (err.code, err.status) == (13009, 403)
        err = await auth_error(c.get_powerstrip(1))
        assert err.code == 13009


async def test_13011_unknown_key(sim: CloudTraxSimulator) -> None:
    async with CloudTraxClient(OTHER_KEY, SECRET, base_url=sim.url) as c:
        err = await auth_error(c.list_networks())
    assert (err.code, err.status) == (13011, 401)


async def test_13012_nonce_too_long(sim: CloudTraxSimulator) -> None:
    async with CloudTraxClient(KEY, SECRET, base_url=sim.url, nonce=lambda: "n" * 65) as c:
        err = await auth_error(c.list_networks())
    assert err.code == 13012
    assert "Nonce length (65) too long.  Max is 64." in str(err)


async def test_13015_empty_signature(sim: CloudTraxSimulator) -> None:
    status, body = await raw_get(sim, "/network/list", headers_for(sim, "/network/list", Signature=""))
    assert (status, body["errors"][0]["code"]) == (401, 13015)


async def test_expired_key(sim: CloudTraxSimulator) -> None:
    sim.add_key(OTHER_KEY, OTHER_SECRET, expires_at=sim.now() - 1)
    async with CloudTraxClient(OTHER_KEY, OTHER_SECRET, base_url=sim.url) as c:
        err = await auth_error(c.list_networks())
    assert (err.code, err.status) == (13016, 401)


async def test_expired_key_fault(sim: CloudTraxSimulator, client: CloudTraxClient) -> None:
    sim.set_fault("expired_key", powerstrip_id=2)
    await client.get_powerstrip(1)
    err = await auth_error(client.get_powerstrip(2))
    assert err.code == 13016


async def test_time_answers_unsigned_by_default(sim: CloudTraxSimulator) -> None:
    status, body = await raw_get(sim, "/time", {})
    assert status == 200 and body["time"].endswith("Z")


async def test_unknown_route_is_1002(sim: CloudTraxSimulator) -> None:
    status, body = await raw_get(sim, "/powerstrip/1/nope", headers_for(sim, "/powerstrip/1/nope"))
    assert (status, body["errors"][0]["code"]) == (404, 1002)


async def test_bad_period_is_1006(sim: CloudTraxSimulator) -> None:
    path = "/powerstrip/1/usage?period=year"
    status, body = await raw_get(sim, path, headers_for(sim, path))
    assert (status, json.dumps(body["errors"][0]["code"])) == (400, "1006")
