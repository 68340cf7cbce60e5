"""A recovered DLI unit is seen within about two poll intervals, whatever the global back-off, while
a unit that asks to be left alone (429 with Retry-After) is left alone, through the real exporter.

With the global `backoff_max` of 10 minutes, a unit that failed a few polls in a row used to be
polled next only after 2, 4, 8... intervals, so a recovered unit could read down for up to ten
minutes. A DLI target's back-off is now capped at twice its interval.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from powerstrip_sim.dli import DliSimulator
from tests.dli.conftest import PASSWORD, StartSim
from tests.support.process import ExporterProcess, Samples, value

INTERVAL = 1.0
RETRY_AFTER = 5
FAILURES = "powerstrip_exporter_target_poll_failures_total"
UP = "powerstrip_exporter_target_up"


@pytest.fixture
async def sim(start_sim: StartSim) -> DliSimulator:
    return await start_sim("pro")


def failures(samples: Samples, reason: str) -> float:
    return value(samples, FAILURES, source="dli", target="unit", reason=reason) or 0.0


async def test_a_healed_unit_is_seen_within_two_intervals_and_retry_after_is_still_honoured(
    tmp_path: Path, sim: DliSimulator
) -> None:
    target = {"source": "dli", "name": "unit", "url": sim.url, "username": "admin", "password": PASSWORD}
    # The global back-off cap is left at its default (10 minutes).
    config = {"global": {"interval": f"{INTERVAL:g}s", "timeout": "1s", "jitter": 0}, "targets": [target]}
    async with ExporterProcess(tmp_path, yaml.safe_dump(config)) as exp:
        await exp.wait_for_sample(UP, 1.0, source="dli", target="unit")

        sim.set_faults(http_status=503)
        # Five failures in a row: an exponential back-off would now wait 32 intervals.
        await exp.wait_for(
            lambda: _at_least(exp, "http_status", 5), timeout=30, what="five failed polls in a row (503)"
        )
        sim.clear_faults()
        healed = time.monotonic()
        # Seen at the next poll, at most two intervals away (generously: eight, a quarter of the
        # wait an exponential back-off would have made).
        await exp.wait_for_sample(UP, 1.0, source="dli", target="unit", timeout=8 * INTERVAL)
        assert time.monotonic() - healed < 8 * INTERVAL

        # A unit that answers 429 with Retry-After is polled no sooner than it asks.
        sim.set_faults(http_status=429, retry_after=RETRY_AFTER)
        start = time.monotonic()
        await exp.wait_for(lambda: _at_least(exp, "rate_limited", 3), timeout=60, what="three polls refused with 429")
        elapsed = time.monotonic() - start
        assert elapsed >= 2 * RETRY_AFTER - 1.0  # three polls, each next one at least Retry-After later
        sim.clear_faults()
        await exp.wait_for_sample(UP, 1.0, source="dli", target="unit", timeout=3 * RETRY_AFTER)


async def _at_least(exp: ExporterProcess, reason: str, count: float) -> bool:
    return failures(await exp.metrics(), reason) >= count
