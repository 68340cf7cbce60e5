"""Hanging targets cost only themselves: forty DLI targets whose unit sends its headers and then
nothing, beside a healthy DLI unit, polled by one real exporter process.

Every target of a source shares its request slots (`max_concurrent_requests`, 16 for DLI). A
hanging request holds its slot until the poll's timeout, so forty hanging targets used to hold all
sixteen, and each of the healthy target's requests queued behind them: its polls took seconds
instead of milliseconds. Targets whose last poll failed now share half of the slots; the other
half stays free for targets that answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter.sources.api import failing_share
from powerstrip_sim.dli import DliSimulator
from tests.support.hostile_upstream import DLI_PASSWORD, HostileUpstream
from tests.support.process import ExporterProcess, Samples, value

HANGING = 40
SLOTS = 16
"""DLI's default `max_concurrent_requests`."""
TIMEOUT = 2.0
HEALTHY_PASSWORD = "Healthy-Dli-Pa55-h4"
POLLS = "powerstrip_exporter_target_polls_total"
DURATION = "powerstrip_exporter_target_poll_duration_seconds"
TIMEOUTS = "powerstrip_exporter_target_poll_failures_total"


@dataclass
class Rig:
    exp: ExporterProcess
    upstream: HostileUpstream


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with HostileUpstream() as upstream, DliSimulator("pro", password=HEALTHY_PASSWORD) as healthy:
        targets = [
            {"source": "dli", "name": "healthy", "url": healthy.url, "username": "admin", "password": "${PW}"},
            *(
                {
                    "source": "dli",
                    "name": f"hanging-{i}",
                    "url": upstream.url_for("hang_after_headers"),
                    "username": "admin",
                    "password": DLI_PASSWORD,
                }
                for i in range(HANGING)
            ),
        ]
        config = {"global": {"interval": "3s", "timeout": f"{TIMEOUT:g}s", "backoff_max": "3s", "jitter": 0}}
        exp = ExporterProcess(tmp_path, yaml.safe_dump({**config, "targets": targets}), env={"PW": HEALTHY_PASSWORD})
        async with exp:
            yield Rig(exp, upstream)


def hanging_timeouts(samples: Samples) -> list[float]:
    return [
        value(samples, TIMEOUTS, source="dli", target=f"hanging-{i}", reason="timeout") or 0.0 for i in range(HANGING)
    ]


async def test_forty_hanging_targets_do_not_delay_a_healthy_one(rig: Rig) -> None:
    exp, upstream = rig.exp, rig.upstream

    async def all_failing() -> bool:
        return min(hanging_timeouts(await exp.metrics())) >= 1

    await exp.wait_for(all_failing, timeout=60, what="every hanging target timed out once")
    upstream.reset_peaks()

    durations: list[float] = []
    seen = value(await exp.metrics(), POLLS, source="dli", target="healthy") or 0.0
    first_timeouts = sum(hanging_timeouts(await exp.metrics()))

    async def six_more_polls() -> bool:
        nonlocal seen
        samples = await exp.metrics()
        polls = value(samples, POLLS, source="dli", target="healthy") or 0.0
        if polls > seen:
            seen = polls
            durations.append(value(samples, DURATION, source="dli", target="healthy") or 0.0)
            assert value(samples, "powerstrip_exporter_target_up", source="dli", target="healthy") == 1.0
        return len(durations) >= 6

    await exp.wait_for(six_more_polls, timeout=60, interval=0.05, what="six more polls of the healthy target")
    assert sum(hanging_timeouts(await exp.metrics())) >= first_timeouts + HANGING / 2  # they kept hanging meanwhile
    # The mechanism: hanging requests never held more than the failing targets' share of the slots
    # (plus the moment a request the exporter gave up on takes to reach the fake as closed) ...
    assert upstream.peak_open["hang_after_headers"] <= failing_share(SLOTS) + 2 < SLOTS
    # ... so no request of the healthy target waited for a slot: each of its polls took far less
    # than the timeout that every hanging request held its slot for (they took 1-6 s before).
    assert max(durations) < TIMEOUT / 2, durations
