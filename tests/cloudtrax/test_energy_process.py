"""The energy counter across restarts of the real exporter process, with and without `--storage.path`.

The simulator publishes a usage sample every second here (600 in the 2hours window), so a restart
a few seconds long is easy to tell from a recount of the 10-minute history window.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from exporter.sources.cloudtrax.simulator import CloudTraxSimulator, SimulatorOptions
from exporter.sources.cloudtrax.simulator.options import DEFAULT_USAGE_LAYOUT
from exporter.sources.cloudtrax.simulator.state import SimStrip
from tests.cloudtrax.conftest import KEY, SECRET
from tests.support.process import ExporterProcess, Samples, value

ENERGY = "cloudtrax_powerstrip_port_energy_joules_total"
REJECTED = "cloudtrax_network_energy_samples_rejected_total"
WINDOW = 600
"""Samples in the simulator's 2hours window, one per second."""


def config_for(sim: CloudTraxSimulator) -> str:
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "1m", "backoff_max": "2s", "jitter": 0.0},
            "targets": [
                {
                    "source": "cloudtrax",
                    "name": "acct",
                    "key": KEY,
                    "secret": SECRET,
                    "base_url": sim.url,
                    "networks": "all",
                    "usage_interval": "1s",
                }
            ],
        }
    )


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
