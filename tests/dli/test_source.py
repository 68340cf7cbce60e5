"""DliSource as the engine sees it: groups, identity schedule, independent polling, demo and simulator CLI."""

from __future__ import annotations

import argparse
import asyncio

import pytest
import yaml

from exporter.config.loader import parse_config
from exporter.config.model import effective_settings
from exporter.engine.engine import Engine
from exporter.sources.api import PollSettings, SourceContext
from exporter.sources.dli import DliSource
from exporter.sources.dli.config import DliEntry
from exporter.sources.dli.source import DliGroup, DliTarget
from powerstrip_sim.dli.cli import DliSimulatorCommand
from powerstrip_sim.registry import DEMOS, SIMULATORS
from tests.dli.conftest import PASSWORD, FakeClock, MakeTarget, StartSim, by_family

IDENTITY = (
    "GET /restapi/config/serial/",
    "GET /restapi/config/version/",
    "GET /restapi/config/hostname/",
    "GET /restapi/relay/version/",
    "GET /restapi/relay/model/",
)


async def test_identity_read_once_then_every_interval(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    sim = await start_sim("pro")
    target = make_target(sim, identity_interval="10m")
    for _ in range(3):
        await target.poll()
    assert [sim.stats.requests[e] for e in IDENTITY] == [1] * 5
    assert sim.stats.requests["GET /restapi/relay/outlets/"] == 3
    before = sim.device.hostname
    sim.device.hostname = "renamed"
    clock.advance(599)
    assert by_family(await target.poll())["dli_device_info"] == {
        ("dli-pro", sim.device.serial, "1.13.16.0", "1.4.1", "LPC9", before): 1.0  # still the cached identity
    }
    assert sim.stats.requests["GET /restapi/config/hostname/"] == 1
    clock.advance(1)
    info = by_family(await target.poll())["dli_device_info"]
    assert [labels[5] for labels in info] == ["renamed"]
    assert sim.stats.requests["GET /restapi/config/hostname/"] == 2


async def test_one_digest_challenge_per_session(start_sim: StartSim, make_target: MakeTarget) -> None:
    """The middleware answers later requests pre-emptively: no 401 round trip per call."""
    sim = await start_sim("epcr")
    target = make_target(sim)
    for _ in range(3):
        await target.poll()
    assert sim.stats.challenges == 1


async def test_group_is_one_static_target(start_sim: StartSim) -> None:
    sim = await start_sim("pro")
    text = yaml.safe_dump(
        {"targets": [{"source": "dli", "name": "d1", "url": sim.url, "username": "admin", "password": PASSWORD}]}
    )
    cfg = parse_config(text, {"dli": DliSource})
    (entry,) = cfg.entries
    group = DliSource.build_group(entry, effective_settings(entry, cfg.global_), SourceContext("dli", 4))
    assert isinstance(group, DliGroup) and group.rediscover_interval is None
    (target,) = await group.discover()
    assert isinstance(target, DliTarget) and target.name == "d1"
    assert target.settings == PollSettings(interval=60.0, timeout=10.0, stale_after=300.0)
    assert sim.stats.total == 0 and sim.stats.challenges == 0  # building does no I/O
    try:
        assert len(await target.poll()) > 0
    finally:
        await target.aclose()
        await group.aclose()


async def test_engine_polls_devices_independently(start_sim: StartSim) -> None:
    """A device that hangs past its timeout neither delays nor breaks a healthy one."""
    slow = await start_sim("epcr", latency=30.0)
    fast = await start_sim("din4")
    entries = [
        {"source": "dli", "name": "slow", "url": slow.url, "interval": "10s", "timeout": "9s"},
        {"source": "dli", "name": "fast", "url": fast.url, "interval": "100ms", "timeout": "100ms"},
    ]
    for e in entries:
        e.update(username="admin", password=PASSWORD)
    cfg = parse_config(yaml.safe_dump({"global": {"jitter": 0.0}, "targets": entries}), {"dli": DliSource})
    engine = Engine({"dli": DliSource})
    await engine.apply(cfg)
    try:
        fast_polls = 0
        for _ in range(400):  # bounded: at most ~4 s
            fast_state = engine.store.states.get(("dli", "fast"))
            fast_polls = fast_state.polls if fast_state else 0
            if fast_polls >= 5:
                break
            await asyncio.sleep(0.01)
        slow_state = engine.store.states[("dli", "slow")]
        fast_state = engine.store.states[("dli", "fast")]
        assert fast_polls >= 5 and fast_state.up
        assert by_family(fast_state.samples)["dli_humidity_ratio"] == {("fast", "sensor.0"): 0.415}
        assert not slow_state.attempted  # still waiting on its first answer
    finally:
        await engine.shutdown()


async def test_demo_fleet() -> None:
    fleet = await DEMOS["dli"]("127.0.0.1")
    try:
        cfg = parse_config(yaml.safe_dump({"targets": fleet.entries}), {"dli": DliSource})
        assert [e.name for e in cfg.entries] == ["dli-pro", "dli-epcr", "dli-din4"]
        assert all(e.interval == 5.0 for e in cfg.entries)
        assert "dli-epcr" in fleet.description
        got = {}
        for entry in cfg.entries:
            assert isinstance(entry, DliEntry)
            target = DliTarget(entry, effective_settings(entry, cfg.global_), SourceContext("dli", 4))
            try:
                got[entry.name] = by_family(await target.poll())
            finally:
                await target.aclose()
        assert "dli_bus_voltage_volts" not in got["dli-pro"]
        assert set(got["dli-epcr"]["dli_bus_energy_joules_total"]) == {("dli-epcr", "0"), ("dli-epcr", "1")}
        assert set(got["dli-din4"]["dli_humidity_ratio"]) == {("dli-din4", "sensor.0")}
        assert 0.3 < got["dli-din4"]["dli_humidity_ratio"][("dli-din4", "sensor.0")] < 0.5
    finally:
        await fleet.aclose()


async def test_simulator_command(capsys: pytest.CaptureFixture[str]) -> None:
    cmd = SIMULATORS["dli"]
    assert isinstance(cmd, DliSimulatorCommand)
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    args = parser.parse_args(
        ["--model", "din4", "--password", "cli-pw", "--count", "2", "--meter-key", "bus_power=p{bus}"]
    )
    assert (args.host, args.port, args.latency, args.cycle_delay) == ("127.0.0.1", 0, 0.0, 1.0)
    task = asyncio.create_task(cmd.serve(args))
    try:
        out = ""
        for _ in range(200):  # bounded: at most ~2 s
            out += capsys.readouterr().out
            if "credentials" in out:
                break
            await asyncio.sleep(0.01)
        lines = out.splitlines()
        assert len(lines) == 3
        assert lines[0].startswith("dli din4 simulator: http://127.0.0.1:")
        assert "'admin'" in lines[2] and "'cli-pw'" in lines[2]
        url = lines[1].rsplit(" ", 1)[1]
        entry = DliEntry.model_validate(
            {"source": "dli", "name": "cli", "url": url, "username": "admin", "password": "cli-pw"}
        )
        target = DliTarget(entry, PollSettings(5, 5, 60), SourceContext("dli", 4))
        try:
            assert "dli_humidity_ratio" in by_family(await target.poll())
        finally:
            await target.aclose()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_simulator_command_rejects_bad_pairs() -> None:
    parser = argparse.ArgumentParser()
    DliSimulatorCommand().add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--meter-key", "novalue"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "lpc9"])
