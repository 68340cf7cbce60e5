"""The energy counter across restarts of the real exporter process, with and without `--storage.path`.

The simulator publishes a usage sample every second here (600 in the 2hours window), so a restart
a few seconds long is easy to tell from a recount of the 10-minute history window.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from powerstrip_sim.cloudtrax import CloudTraxSimulator, SimulatorOptions
from powerstrip_sim.cloudtrax.options import DEFAULT_USAGE_LAYOUT
from powerstrip_sim.cloudtrax.state import SimStrip, iso_seconds
from tests.cloudtrax.conftest import KEY, SECRET, exporter_config
from tests.support.process import ExporterProcess, Samples, find, value

ENERGY = "cloudtrax_powerstrip_port_energy_joules_total"
REJECTED = "cloudtrax_network_energy_samples_rejected_total"
WINDOW = 600
"""Samples in the simulator's 2hours window, one per second."""


def config_for(sim: CloudTraxSimulator) -> str:
    return exporter_config(sim, usage_interval="1s")


@pytest.fixture
async def sim() -> AsyncIterator[CloudTraxSimulator]:
    options = SimulatorOptions(usage_layout={**DEFAULT_USAGE_LAYOUT, "2hours": (WINDOW, 1)})
    async with CloudTraxSimulator(key=KEY, secret=SECRET, strips=1, networks=1, options=options) as simulator:
        strip = only_strip(simulator)
        strip.online = True
        strip.ports[0].enable, strip.ports[0].load_w = True, 40.0
        yield simulator


def only_strip(sim: CloudTraxSimulator) -> SimStrip:
    (strip,) = sim.state.strips.values()
    return strip


def labels(sim: CloudTraxSimulator) -> dict[str, str]:
    strip = only_strip(sim)
    return {"network_id": str(strip.network_id), "powerstrip_id": str(strip.powerstrip_id), "port": "1"}


def published(sim: CloudTraxSimulator) -> list[tuple[float, float]]:
    """(time, port 1 power) of every sample the simulator serves right now."""
    payload = sim.state.usage_payload(only_strip(sim), "2hours", sim.now())
    return [
        (datetime.fromisoformat(p["time"].replace("Z", "+00:00")).timestamp(), p["ports"]["1"]["active_power_w"])
        for p in payload["usage"]
    ]


async def energy(exp: ExporterProcess, sim: CloudTraxSimulator) -> float | None:
    return value(await exp.metrics(), ENERGY, **labels(sim))


async def wait_for_energy(exp: ExporterProcess, sim: CloudTraxSimulator, above: float) -> float:
    latest: float | None = None

    async def counted() -> bool:
        nonlocal latest
        latest = await energy(exp, sim)
        return latest is not None and latest > above

    await exp.wait_for(counted, timeout=30, what=f"{ENERGY} above {above}")
    assert latest is not None
    return latest


def saved_strip(state_dir: Path, sim: CloudTraxSimulator) -> dict[str, object]:
    document = json.loads((state_dir / "cloudtrax-energy.json").read_text())
    assert document["kind"] == "cloudtrax-energy" and document["version"] == 1
    sid = only_strip(sim).powerstrip_id
    (strip,) = [s for s in document["data"]["strips"] if s["powerstrip_id"] == sid]
    return dict(strip)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_with_a_storage_path_a_restart_continues_the_counter_exactly(
    tmp_path: Path, sim: CloudTraxSimulator, stop_signal: signal.Signals
) -> None:
    """Stopped, the last save is at shutdown; killed, it is the one after the last poll that counted."""
    state_dir = tmp_path / "state"
    args = ["--storage.path", str(state_dir)]
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as first:
        await wait_for_energy(first, sim, 0.0)
        last_seen = await wait_for_energy(first, sim, await energy(first, sim) or 0.0)
        assert await first.stop(stop_signal) == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
    saved = saved_strip(state_dir, sim)
    mark, joules = float(saved["high_water"]), saved["joules"]["1"]  # type: ignore[index]
    if stop_signal == signal.SIGTERM:
        assert joules >= last_seen  # the save at shutdown has everything that was exported

    async with ExporterProcess(tmp_path, config_for(sim), args=args) as second:
        first_seen = await wait_for_energy(second, sim, -1.0)
        later = await wait_for_energy(second, sim, first_seen)
        assert "state file unusable" not in second.logs()
    # Exactly the saved count plus each second published after the saved mark, once: the values
    # the restarted process can show are these prefix sums and nothing else.
    possible = [joules]
    for t, watts in published(sim):
        if t > mark:
            possible.append(possible[-1] + watts * 1.0)
    for seen in (first_seen, later):
        assert any(math.isclose(seen, p, rel_tol=1e-12) for p in possible), (seen, possible[:5])
    assert first_seen >= last_seen  # Prometheus sees no reset
    history = sum(watts for _, watts in published(sim))
    assert later - joules < history / 4  # nowhere near a recount of the window


async def test_without_a_storage_path_a_restart_starts_near_zero(tmp_path: Path, sim: CloudTraxSimulator) -> None:
    async with ExporterProcess(tmp_path, config_for(sim)) as first:
        await wait_for_energy(first, sim, 0.0)
    assert not list(tmp_path.glob("*.json"))

    launched = time.time()
    async with ExporterProcess(tmp_path, config_for(sim)) as second:
        first_seen = await wait_for_energy(second, sim, -1.0)
        later = await wait_for_energy(second, sim, first_seen)
    assert first_seen == 0.0  # the first read only sets the mark
    # At most the samples published since this process was launched, each once.
    since_launch = sum(watts for t, watts in published(sim) if t > launched - 1.0)
    history = sum(watts for _, watts in published(sim))
    assert 0.0 < later <= since_launch
    assert later < history / 4


async def test_a_corrupt_state_file_is_one_warning_and_a_clean_start(tmp_path: Path, sim: CloudTraxSimulator) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "cloudtrax-energy.json").write_bytes(b'{"kind": "cloudtrax-energy", "version": 1, "data": {"str')
    async with ExporterProcess(tmp_path, config_for(sim), args=["--storage.path", str(state_dir)]) as exp:
        samples: Samples = await exp.wait_for_sample(ENERGY, 0.0, **labels(sim))
        await wait_for_energy(exp, sim, 0.0)
        logs = exp.logs()
        network = labels(sim)["network_id"]
        assert value(samples, REJECTED, network_id=network, reason="future_time") == 0.0
    assert logs.count("state file unusable") == 1
    assert "not JSON" in logs and "Traceback" not in logs
    saved_strip(state_dir, sim)  # rewritten as a valid file


def usage_point(t: float, watts: dict[str, float | None]) -> dict[str, object]:
    return {"time": iso_seconds(t), "ports": {p: {"active_power_w": w} for p, w in watts.items()}}


async def test_hostile_readings_are_refused_one_at_a_time_by_the_running_exporter(
    tmp_path: Path, sim: CloudTraxSimulator
) -> None:
    """1e308 W once made the exported counter +Inf and a year-9999 sample froze it; now each bad
    reading costs its own interval, is counted by reason, and the counter stays finite and moving."""
    strip = only_strip(sim)
    base = float(int(time.time()) // 300 * 300 - 3000)
    ports = ("1", "2", "3", "4")
    history = [usage_point(base + 300 * i, dict.fromkeys(ports, 10.0)) for i in range(5)]
    strip.fixed_usage = history
    network = str(strip.network_id)

    def energies(samples: Samples) -> dict[str, float | None]:
        return {p: value(samples, ENERGY, **{**labels(sim), "port": p}) for p in ports}

    async with ExporterProcess(tmp_path, config_for(sim)) as exp:
        first = await exp.wait_for_sample(ENERGY, 0.0, **{**labels(sim), "port": "1"})  # from the second poll
        assert energies(first) == dict.fromkeys(ports, 0.0)  # the first read only sets the mark
        assert value(first, REJECTED, network_id=network, reason="too_large") == 0.0

        strip.fixed_usage = [
            *history,
            usage_point(base + 1500, {"1": 10.0, "2": 1e308, "3": -5.0, "4": None}),
            usage_point(base + 1800, dict.fromkeys(ports, 20.0)),
            usage_point(datetime(9999, 12, 31, tzinfo=UTC).timestamp(), dict.fromkeys(ports, 5.0)),
        ]
        counted = {"1": 10.0 * 300 + 20.0 * 300, "2": 20.0 * 300, "3": 20.0 * 300, "4": 20.0 * 300}
        latest: Samples = {}

        async def refused_and_counted() -> bool:
            nonlocal latest
            latest = await exp.metrics()
            return energies(latest) == counted

        await exp.wait_for(refused_and_counted, timeout=30, what=f"energy {counted}")
        assert {
            reason: value(latest, REJECTED, network_id=network, reason=reason)
            for reason in ("future_time", "null", "not_finite", "negative", "too_large")
        } == {"future_time": 1.0, "null": 1.0, "not_finite": 0.0, "negative": 1.0, "too_large": 1.0}

        strip.fixed_usage = [*strip.fixed_usage, usage_point(base + 2100, dict.fromkeys(ports, 10.0))]
        after = {p: joules + 10.0 * 300 for p, joules in counted.items()}

        async def still_counting() -> bool:
            nonlocal latest
            latest = await exp.metrics()
            return energies(latest) == after

        await exp.wait_for(still_counting, timeout=30, what="the counter moves on past the year-9999 sample")
        assert value(latest, REJECTED, network_id=network, reason="future_time") == 1.0  # seen again, counted once
        assert "Traceback" not in exp.logs()


def invent_ports(sim: CloudTraxSimulator, per_sample: int) -> Callable[[], None]:
    """Make every usage sample name `per_sample` ports the strip does not have, new ones each
    sample (as a hostile or broken upstream did); returns the function that heals it."""
    real = sim.state.usage_payload

    def hostile(strip: SimStrip, period: str, now: float) -> dict[str, Any]:
        payload = real(strip, period, now)
        for point in payload["usage"]:
            stamp = "".join(ch for ch in point["time"] if ch.isdigit())
            for i in range(per_sample):
                point["ports"][f"{stamp}{i:03d}"] = {"active_power_w": 5.0}
        return payload

    sim.state.usage_payload = hostile  # type: ignore[method-assign]

    def heal() -> None:
        sim.state.usage_payload = real  # type: ignore[method-assign]

    return heal


def strip_ports(sim: CloudTraxSimulator) -> set[str]:
    return {str(port.port_id) for port in only_strip(sim).ports}


async def test_usage_naming_ports_the_strip_lacks_grows_no_state_and_a_healed_restart_recovers_at_once(
    tmp_path: Path, sim: CloudTraxSimulator
) -> None:
    """Invented ports once grew the state file without bound, and the poison outlived the fault and a
    restart: the target stayed down on sample_limit. Now only the strip's own ports are counted."""
    state_dir = tmp_path / "state"
    args = ["--storage.path", str(state_dir)]
    network = labels(sim)["network_id"]
    heal = invent_ports(sim, per_sample=30)
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as hostile:
        refused: Samples = {}

        async def refusing() -> bool:
            nonlocal refused
            refused = await hostile.metrics()
            return (value(refused, REJECTED, network_id=network, reason="unknown_port") or 0) >= 30 * 3

        await hostile.wait_for(refusing, timeout=30, what="readings of invented ports refused")
        shown = {lbls["port"] for lbls, _ in find(refused, ENERGY, network_id=network)}
        assert shown == strip_ports(sim)
        before = await wait_for_energy(hostile, sim, 0.0)
        assert hostile.logs().count("usage names ports the strip does not list") == 1
    assert set(saved_strip(state_dir, sim)["joules"]) <= strip_ports(sim)  # type: ignore[arg-type]
    assert (state_dir / "cloudtrax-energy.json").stat().st_size < 4096

    heal()
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as healed:
        up = await healed.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="cloudtrax", target=network)
        assert value(up, "powerstrip_exporter_target_polls_total", source="cloudtrax", target=network) == 1.0
        assert await wait_for_energy(healed, sim, before) > before  # continues, no reset


async def saved_by_a_first_run(tmp_path: Path, sim: CloudTraxSimulator) -> tuple[list[str], Path, dict[str, Any]]:
    """Run an exporter with a storage path until it counted, stop it: its args, state file and document."""
    state_dir = tmp_path / "state"
    args = ["--storage.path", str(state_dir)]
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as first:
        await wait_for_energy(first, sim, 0.0)
    path = state_dir / "cloudtrax-energy.json"
    return args, path, json.loads(path.read_text())


async def test_a_state_file_holding_invented_ports_is_cut_to_the_strip_s_ports_by_the_first_read(
    tmp_path: Path, sim: CloudTraxSimulator
) -> None:
    """A file written by an exporter that counted invented ports (90,006 per strip) once kept the
    target down on sample_limit after the upstream healed; now the first read drops them."""
    args, path, document = await saved_by_a_first_run(tmp_path, sim)
    (strip,) = document["data"]["strips"]
    real = dict(strip["joules"])
    strip["joules"] = {**real, **{str(100_000 + i): 1.0 for i in range(90_006)}}
    path.write_text(json.dumps(document))

    network = labels(sim)["network_id"]
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as restarted:
        up = await restarted.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="cloudtrax", target=network)
        assert value(up, "powerstrip_exporter_target_polls_total", source="cloudtrax", target=network) == 1.0
        shown = {lbls["port"]: v for lbls, v in find(up, ENERGY, network_id=network)}
        assert set(shown) == strip_ports(sim)
        assert all(shown[port] >= joules for port, joules in real.items())  # the real counters continue
        await restarted.wait_for(
            lambda: asyncio.to_thread(lambda: len(json.loads(path.read_text())["data"]["strips"][0]["joules"]) < 64),
            timeout=20,
            what="the state file saved without the invented ports",
        )
        assert restarted.logs().count("energy counters of ports the strip does not list dropped") == 1


@pytest.mark.parametrize("mark", [0.0, -1e308], ids=["zero", "far_past"])
async def test_a_corrupt_mark_in_the_state_file_recounts_nothing(
    tmp_path: Path, sim: CloudTraxSimulator, mark: float
) -> None:
    """A mark of 0 or -1e308 once made the restarted exporter count the whole usage window again."""
    args, path, document = await saved_by_a_first_run(tmp_path, sim)
    document["data"]["strips"][0]["high_water"] = mark
    path.write_text(json.dumps(document))
    joules = document["data"]["strips"][0]["joules"]["1"]

    launched = time.time()
    async with ExporterProcess(tmp_path, config_for(sim), args=args) as restarted:
        first_seen = await wait_for_energy(restarted, sim, -1.0)
        later = await wait_for_energy(restarted, sim, first_seen)
        logs = restarted.logs()
    assert first_seen == joules  # kept, and the first read only sets the mark again
    since_launch = sum(watts for t, watts in published(sim) if t > launched - 1.0)
    assert joules < later <= joules + since_launch
    assert logs.count("saved energy state not trusted for some strips") == 1
    assert "high-water mark in the future or too old" in logs
