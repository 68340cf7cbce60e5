"""The simulator's own behaviour: changing state, actions, usage, control API, scale and CLI."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.errors import CloudTraxError
from powerstrip_sim.cloudtrax import CloudTraxSimulator, SimulatorOptions
from powerstrip_sim.cloudtrax.cli import SimulatorCommand
from powerstrip_sim.registry import SIMULATORS, Simulator
from tests.cloudtrax.conftest import KEY, SECRET

NET = 100001


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[CloudTraxSimulator, CloudTraxClient]]:
    options = SimulatorOptions(reboot_seconds=30.0, port_reset_seconds=20.0)
    async with (
        CloudTraxSimulator(key=KEY, secret=SECRET, strips=4, networks=1, options=options) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as client,
    ):
        yield sim, client


def busy_strip(sim: CloudTraxSimulator) -> int:
    """A strip that is up with every port enabled and drawing power."""
    sid = sim.state.networks[NET].strip_ids[0]
    strip = sim.state.strips[sid]
    for port in strip.ports:
        port.enable, port.load_w = True, 25.0
    sim.set_strip_online(sid, True)
    return sid


async def test_uptime_grows_checkins_advance_and_power_drifts(
    fleet: tuple[CloudTraxSimulator, CloudTraxClient],
) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    before = await client.get_powerstrip(sid)
    sim.clock_offset += 300
    after = await client.get_powerstrip(sid)
    assert before.uptime_seconds is not None and after.uptime_seconds is not None
    assert after.uptime_seconds - before.uptime_seconds == pytest.approx(300, abs=2)
    assert before.last_checkin is not None and after.last_checkin is not None
    assert after.last_checkin > before.last_checkin
    assert [p.active_power_w for p in before.ports] != [p.active_power_w for p in after.ports]
    assert all(p.active_power_w and p.active_power_w > 0 for p in after.ports)


async def test_down_strip_reports_zeros(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    up = await client.get_powerstrip(sid)
    sim.set_strip_online(sid, False)
    sim.clock_offset += 600
    listed = {s.powerstrip_id: s for s in await client.list_powerstrips(NET)}[sid]
    assert listed.cloud_status == "down"
    assert (listed.voltage_v, listed.frequency_hz, listed.uptime_seconds, listed.active_ports) == (0, 0, 0, 0)
    assert listed.last_checkin is not None and up.last_checkin is not None
    assert listed.last_checkin <= up.last_checkin + timedelta(seconds=60)  # frozen at going down
    down = await client.get_powerstrip(sid)
    assert all(p.active_power_w == 0 and p.current_a == 0 for p in down.ports)
    sim.set_strip_online(sid, True)
    back = await client.get_powerstrip(sid)
    assert back.cloud_status == "up" and back.uptime_seconds is not None and back.uptime_seconds < 5


async def test_reboot_restarts_uptime_and_drops_ports_briefly(
    fleet: tuple[CloudTraxSimulator, CloudTraxClient],
) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    uptime = (await client.get_powerstrip(sid)).uptime_seconds
    assert uptime is not None and uptime > 5
    await client.reboot_powerstrip(sid)
    rebooted = await client.get_powerstrip(sid)
    assert rebooted.uptime_seconds is not None and rebooted.uptime_seconds < 5
    assert all(p.active_power_w == 0 for p in rebooted.ports)
    sim.clock_offset += 31
    recovered = await client.get_powerstrip(sid)
    assert all(p.active_power_w and p.active_power_w > 0 for p in recovered.ports)
    assert recovered.uptime_seconds == pytest.approx(31, abs=2)


async def test_port_reset_drops_only_that_port(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    await client.reset_port(sid, 3)
    during = {p.port_id: p.active_power_w for p in (await client.get_powerstrip(sid)).ports}
    assert during[3] == 0
    assert all(w and w > 0 for pid, w in during.items() if pid != 3)
    sim.clock_offset += 21
    after = {p.port_id: p.active_power_w for p in (await client.get_powerstrip(sid)).ports}
    assert after[3] and after[3] > 0


async def test_port_disable_and_pairing(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    sim.state.strips[sid].need_pairing = True
    await client.set_port_enabled(sid, 2, False)
    strip = {s.powerstrip_id: s for s in await client.list_powerstrips(NET)}[sid]
    assert (strip.enabled_ports, strip.active_ports, strip.need_pairing) == (5, 5, True)
    await client.enable_pairing(sid)
    got = await client.get_powerstrip(sid)
    assert (got.need_pairing, got.enable_pairing) == (False, True)
    assert got.ports[1].enable is False and got.ports[1].active_power_w == 0


async def test_checkin_of_a_down_strip_fails(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    sim.set_strip_online(sid, False)
    with pytest.raises(CloudTraxError) as info:
        await client.checkin_powerstrip(sid)
    assert info.value.status == 403


async def test_usage_layout_per_period_and_order(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    sim.state.strips[sid].created = sim.now() - 400 * 86400
    for period, spacing in (("2hours", 300), ("day", 300), ("week", 2100), ("month", 9300)):
        before = sim.now()
        samples = await client.get_usage(sid, period)  # type: ignore[arg-type]
        after = sim.now()
        times = [s.time.timestamp() for s in samples]
        assert {b - a for a, b in itertools.pairwise(times)} == {spacing}
        # The simulator answered at some moment between `before` and `after` (a bucket may begin in between).
        assert times[-1] <= after and before < times[-1] + spacing
    sim.options.usage_order = "newest_first"
    newest_first = await client.get_usage(sid, "2hours")  # the client sorts oldest first anyway
    assert newest_first == sorted(newest_first, key=lambda s: s.time)


async def test_overlapping_usage_windows_agree(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    sid = busy_strip(sim)
    sim.clock_offset += -sim.now() % 300 + 1  # just after a five-minute bucket begins: no bucket begins mid-test
    first = {s.time: s for s in await client.get_usage(sid, "2hours")}
    sim.clock_offset += 600
    second = {s.time: s for s in await client.get_usage(sid, "2hours")}
    common = set(first) & set(second)
    assert len(common) == 22
    assert all(first[t] == second[t] for t in common)


async def control(
    sim: CloudTraxSimulator, method: str, path: str, json: object = None
) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.request(method, sim.url + path, json=json) as resp:
        return resp.status, await resp.json()


async def test_control_endpoint(fleet: tuple[CloudTraxSimulator, CloudTraxClient]) -> None:
    sim, client = fleet
    status, body = await control(sim, "POST", "/_sim/faults", {"kind": "http_5xx", "network_id": NET, "status": 500})
    assert status == 200
    assert body["faults"] == [
        {"kind": "http_5xx", "seconds": 0.0, "status": 500, "retry_after": 30.0, "network_id": NET}
    ]
    with pytest.raises(CloudTraxError) as info:
        await client.list_powerstrips(NET)
    assert (info.value.status, info.value.reason) == (500, "http_status")
    assert (await control(sim, "GET", "/_sim/faults"))[1]["faults"]
    status, body = await control(sim, "DELETE", f"/_sim/faults?network_id={NET}")
    assert (status, body["faults"]) == (200, [])
    assert len(await client.list_powerstrips(NET)) == 4

    status, body = await control(sim, "GET", "/_sim/requests")
    assert status == 200
    assert body["by_endpoint"] == {"GET /powerstrip/network/{network_id}/list": 2}
    assert body["by_path"] == {f"GET /powerstrip/network/{NET}/list": 2}
    assert body["total"] == 2
    status, body = await control(sim, "GET", f"/_sim/requests?before={time.time() + 60}")
    assert (status, body["by_endpoint"], body["total"]) == (200, {"GET /powerstrip/network/{network_id}/list": 2}, 2)
    status, body = await control(sim, "GET", "/_sim/requests?before=1000")
    assert (status, body["by_endpoint"], body["total"]) == (200, {}, 0)  # nothing had arrived by 1970
    status, body = await control(sim, "GET", "/_sim/requests?before=soon")
    assert status == 400 and "before" in body["error"]
    await control(sim, "DELETE", "/_sim/requests")
    assert sim.request_counts() == {}

    for bad in ({"kind": "meteor"}, {"kind": "drop", "network_id": "x"}, {"kind": "drop", "colour": 1}, [1]):
        assert (await control(sim, "POST", "/_sim/faults", bad))[0] == 400

    sid = sim.state.networks[NET].strip_ids[0]
    assert (await control(sim, "POST", f"/_sim/strips/{sid}/status", {"online": False}))[0] == 200
    assert {s.powerstrip_id: s.cloud_status for s in await client.list_powerstrips(NET)}[sid] == "down"
    assert (await control(sim, "POST", "/_sim/strips/1/status", {"online": True}))[0] == 404
    status, body = await control(sim, "GET", "/_sim/state")
    assert body == {"networks": {str(NET): {"name": "Site 1", "powerstrips": 4}}, "powerstrips": 4}


async def test_rate_limit_option_answers_429_with_retry_after() -> None:
    options = SimulatorOptions(rate_limit_per_second=0.5, rate_limit_burst=2)
    async with (
        CloudTraxSimulator(key=KEY, secret=SECRET, strips=1, options=options) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as client,
    ):
        await client.list_networks()
        await client.list_networks()
        with pytest.raises(CloudTraxError) as info:
            await client.list_networks()
        assert info.value.reason == "rate_limited"
        assert info.value.retry_after is not None and info.value.retry_after >= 1


async def test_fleet_scales_to_5000_strips_over_10_networks() -> None:
    async with (
        CloudTraxSimulator(key=KEY, secret=SECRET, strips=5000, networks=10) as sim,
        CloudTraxClient(KEY, SECRET, base_url=sim.url, timeout=60) as client,
    ):
        networks = await client.list_networks()
        assert len(networks) == 10
        sizes = [len(await client.list_powerstrips(n.id)) for n in networks]
        assert sizes == [500] * 10
        strips = [s for n in networks for s in await client.list_powerstrips(n.id)]
        assert len({s.powerstrip_id for s in strips}) == 5000
        assert len({s.mac for s in strips}) == 5000
        assert sum(1 for s in strips if not s.is_up) == 5000 // 17
        assert sum(1 for s in strips if s.need_pairing) == 5000 // 23


async def test_cli_arguments_and_serve(capsys: pytest.CaptureFixture[str]) -> None:
    command = SIMULATORS["cloudtrax"]
    assert isinstance(command, SimulatorCommand)
    sim_protocol: Simulator = command  # the protocol is static; mypy checks the registry's
    assert callable(sim_protocol.add_arguments) and callable(sim_protocol.serve)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--strips", "3", "--networks", "1", "--key", KEY, "--secret", SECRET])
    assert (args.host, args.latency, args.seed_payloads) == ("127.0.0.1", 0.0, False)
    task = asyncio.create_task(command.serve(args))
    url = ""
    deadline = time.monotonic() + 10
    out = ""
    for _ in range(200):
        out += capsys.readouterr().out
        if "listening on " in out or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    try:
        url = out.split("listening on ")[1].split()[0]
        assert f"key:      {KEY}" in out and f"secret:   {SECRET}" in out
        async with CloudTraxClient(KEY, SECRET, base_url=url) as client:
            assert [n.id for n in await client.list_networks()] == [NET]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(url + "/time") as resp:
            await resp.read()
    with pytest.raises(SystemExit):
        parser.parse_args(["--strips", "-1"])


@pytest.mark.parametrize(("mains", "low", "high", "hertz"), [("120", 115.0, 121.0, 60.0), ("230", 220.4, 231.9, 50.0)])
async def test_mains_option_sets_voltage_and_frequency(mains: str, low: float, high: float, hertz: float) -> None:
    """`--mains`: generated strips read about their country's nominal, and draw the current that power needs there."""
    parser = argparse.ArgumentParser()
    SimulatorCommand().add_arguments(parser)
    sim = SimulatorCommand().build(parser.parse_args(["--strips", "16", "--networks", "1", "--mains", mains]))
    async with sim, CloudTraxClient(sim.key, sim.secret, base_url=sim.url) as client:
        strips = [s for s in await client.list_powerstrips(NET) if s.is_up]
        assert strips
        for listed in strips:
            assert listed.voltage_v is not None and low - 1.6 <= listed.voltage_v <= high + 1.6
            assert listed.frequency_hz == hertz
            got = await client.get_powerstrip(listed.powerstrip_id)
            for port in got.ports:
                if port.apparent_power_va:
                    assert port.current_a == pytest.approx(port.apparent_power_va / listed.voltage_v, abs=0.01)
