"""Outlet truth and the write calls an action API uses, through the real client and simulator."""

from __future__ import annotations

import asyncio

import pytest

from exporter.sources.api import PollError
from exporter.sources.dli.models import WriteResult
from tests.dli.conftest import FakeClock, MakeTarget, StartSim, by_family


async def test_physical_state_follows_cycle_after_delay_fake_clock(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    sim = await start_sim("pro", clock=clock, cycle_delay=5.0)
    target = make_target(sim)
    assert await target.client.cycle(1) == WriteResult("cycle", 1, 204)
    states = []
    for step in (0.0, 4.99, 0.01):
        clock.advance(step)
        got = by_family(await target.poll())
        states.append(
            (got["dli_outlet_transient_state"][("dli-pro", "1")], got["dli_outlet_physical_state"][("dli-pro", "1")])
        )
    # transient stays on (the target), physical is off for exactly the cycle delay
    assert states == [(1.0, 0.0), (1.0, 0.0), (1.0, 1.0)]


async def test_physical_state_follows_cycle_real_time(start_sim: StartSim, make_target: MakeTarget) -> None:
    """The same with the real clock: the simulator's delay, observed by polling (bounded)."""
    sim = await start_sim("epcr", cycle_delay=1.0)
    client = make_target(sim).client
    await client.cycle(0)
    seen_off = (await client.outlet(0)).physical_state is False
    physical = False
    for _ in range(100):  # at most ~5 s
        status = await client.outlet(0)
        assert status.transient_state is True
        if status.physical_state:
            physical = True
            break
        await asyncio.sleep(0.05)
    assert seen_off and physical


async def test_cycle_is_a_no_op_when_off(start_sim: StartSim, make_target: MakeTarget, clock: FakeClock) -> None:
    sim = await start_sim("pro", clock=clock)
    client = make_target(sim).client
    assert (await client.cycle(2)).status == 204
    status = await client.outlet(2)
    assert (status.state, status.transient_state, status.physical_state) == (False, False, False)
    clock.advance(10)
    assert (await client.outlet(2)).physical_state is False


async def test_transient_and_persistent_state_and_reboot(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    sim = await start_sim("pro", clock=clock)
    client = make_target(sim).client
    await client.set_transient_state(2, True)  # temporary on
    await client.set_state(5, True)  # persistent on
    await client.set_transient_state(0, False)  # temporary off
    o = {i: await client.outlet(i) for i in (0, 2, 5)}
    assert (o[2].state, o[2].transient_state, o[2].physical_state) == (False, True, True)
    assert (o[5].state, o[5].transient_state, o[5].physical_state) == (True, True, True)
    assert (o[0].state, o[0].transient_state, o[0].physical_state) == (True, False, False)
    assert await client.reboot() == WriteResult("reboot", None, 204)
    after = await client.outlets()
    assert [(x.state, x.transient_state, x.physical_state) for x in after] == [
        (x.state, x.state, x.state) for x in after
    ]
    assert [x.state for x in after] == [True, True, False, True, False, True, False, False]
    assert sim.device.boots == 1


async def test_locked_outlet_gives_409_error(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("epcr")
    target = make_target(sim)
    sim.set_faults(locked_outlets=[3])
    calls = (
        lambda: target.client.cycle(3),
        lambda: target.client.set_state(3, False),
        lambda: target.client.set_transient_state(3, False),
    )
    for call in calls:
        with pytest.raises(PollError) as info:
            await call()
        assert (info.value.status, info.value.reason) == (409, "http_status")
        assert "outlet 3 is locked" in str(info.value)
        assert "locked" in str(info.value)
    got = by_family(await target.poll())  # polling is unaffected; the lock shows up
    assert got["dli_outlet_locked"][("dli-epcr", "3")] == 1.0
    assert got["dli_outlet_physical_state"][("dli-epcr", "3")] == 1.0  # unchanged
    assert (await target.client.set_state(4, True)).status == 204  # others still switch
    sim.clear_faults()
    assert (await target.client.cycle(3)).status == 204


async def test_keypad_lock_on_the_device(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("din4")
    sim.device.outlets[6].locked = True
    client = make_target(sim).client
    with pytest.raises(PollError):
        await client.set_state(6, True)
    assert (await client.outlet(6)).locked is True


async def test_writes_reject_bad_index_locally(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    client = make_target(sim).client
    with pytest.raises(ValueError, match="0-based"):
        await client.cycle(-1)
    assert sim.stats.total == 0


async def test_out_of_range_outlet_is_http_status(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    client = make_target(sim).client
    with pytest.raises(PollError) as info:
        await client.set_state(8, True)
    assert (info.value.reason, info.value.status) == ("http_status", 404)


async def test_failed_relay_keeps_an_outlet_off_while_switched_on(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    """The `failed_relays` fault: the outlet reads switched on but gives no power, and its bus draws nothing
    for it; clearing the fault brings the power back."""
    sim = await start_sim("epcr", clock=clock)
    target = make_target(sim)
    before = by_family(await target.poll())
    sim.set_faults(failed_relays=[1])
    broken = by_family(await target.poll())
    outlet = ("dli-epcr", "1")
    assert broken["dli_outlet_transient_state"][outlet] == 1.0
    assert (before["dli_outlet_physical_state"][outlet], broken["dli_outlet_physical_state"][outlet]) == (1.0, 0.0)
    bus = ("dli-epcr", "0")
    load = sim.device.outlets[1].load_amps
    assert broken["dli_bus_current_amperes"][bus] == pytest.approx(before["dli_bus_current_amperes"][bus] - load)
    assert sim.faults.to_json()["failed_relays"] == [1]
    sim.clear_faults()
    assert by_family(await target.poll())["dli_outlet_physical_state"][outlet] == 1.0
