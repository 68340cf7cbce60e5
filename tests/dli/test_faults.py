"""Every simulator fault and auth failure surfaces as a PollError with the right reason."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.sources.api import PollError
from exporter.sources.dli.errors import DliAuthError
from tests.dli.conftest import PASSWORD, MakeTarget, StartSim, by_family

TIMEOUT = 2.0
"""The client's timeout: the latency fault exceeds it; a digest-authenticated call stays well within it
even on a busy machine."""

FAULTS: list[tuple[dict[str, Any], str]] = [
    ({"wrong_credentials": True}, "auth"),
    ({"http_status": 500}, "http_status"),
    ({"http_status": 503}, "http_status"),
    ({"malformed_json": True}, "bad_response"),
    ({"html_page": True}, "bad_response"),
    ({"drop_connection": True}, "connection"),
    ({"latency": 5 * TIMEOUT}, "timeout"),
    ({"http_status": 500, "path_prefix": "meter/"}, "http_status"),  # meters failing is a failure (only 404 is not)
    ({"malformed_json": True, "path_prefix": "config/"}, "bad_response"),  # identity read
]


@pytest.mark.parametrize(("fault", "reason"), FAULTS, ids=[str(f) for f, _ in FAULTS])
async def test_fault_gives_reason_and_recovers(
    start_sim: StartSim, make_target: MakeTarget, fault: dict[str, Any], reason: str
) -> None:
    sim = await start_sim("epcr")
    target = make_target(sim, timeout=TIMEOUT)
    sim.set_faults(**fault)
    with pytest.raises(PollError) as info:
        await target.poll()
    assert info.value.reason == reason
    assert PASSWORD not in str(info.value)
    sim.clear_faults()
    assert len(await target.poll()) > 0


async def test_wrong_password_is_auth(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    target = make_target(sim, password="not-the-password")
    with pytest.raises(DliAuthError) as info:
        await target.poll()
    assert info.value.reason == "auth"
    assert info.value.status == 401
    assert "not-the-password" not in str(info.value)
    assert sim.stats.challenges >= 2  # challenged, answered with the wrong digest, rejected again
    assert sim.stats.total == 0  # nothing got through


async def test_basic_is_off_by_default(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    with pytest.raises(PollError) as info:
        await make_target(sim, auth="basic").poll()
    assert info.value.reason == "auth"


async def test_basic_when_allowed(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro", allow_basic=True)
    assert len(await make_target(sim, auth="basic").poll()) > 0
    assert sim.stats.challenges == 0  # basic is sent up front


async def test_unreachable_device_is_connection(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    target = make_target(sim)
    await sim.stop()
    with pytest.raises(PollError) as info:
        await target.poll()
    assert info.value.reason == "connection"


async def test_one_faulty_device_does_not_affect_another(start_sim: StartSim, make_target: MakeTarget) -> None:
    bad = await start_sim("epcr")
    good = await start_sim("din4")
    bad_target, good_target = make_target(bad, name="bad", timeout=0.3), make_target(good, name="good")
    bad.set_faults(http_status=503)
    with pytest.raises(PollError):
        await bad_target.poll()
    assert by_family(await good_target.poll())["dli_humidity_ratio"] == {("good", "sensor.0"): 0.415}


async def test_non_admin_skips_script_threads_quietly(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro", users={"viewer": ("view-pw", False)})
    target = make_target(sim, username="viewer", password="view-pw")
    first = by_family(await target.poll())
    assert "dli_script_threads" not in first
    assert "dli_outlet_state" in first and "dli_device_info" in first
    await target.poll()
    # 403 once; not asked again until identity is re-read
    assert sim.stats.requests["GET /restapi/script/threads/"] == 1


async def test_admin_sees_script_threads(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    sim.device.start_thread("flash_a_light")
    sim.device.start_thread("cycle_an_outlet(5,10)")
    assert by_family(await make_target(sim).poll())["dli_script_threads"] == {("dli-pro",): 2.0}
