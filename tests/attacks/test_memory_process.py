"""Attack: an upstream answers every strip's `GET /powerstrip/{id}` with 7.9 MB of
`{"schedule":[{},{},...]}`. The answers are refused (`max_items_per_answer`); the memory they took
must come back within the poll, not wait minutes for a full garbage collection.

Judged on the floor of RSS (its lowest sample) in a window early in the attack and one late in it:
a sample taken while an answer is being decoded is high for a moment (about 200 MB for this shape,
bounded by the 8 MiB read cap), but a leak raises every later sample, so it raises the floor.
Windows are counted in answers served, not in seconds, so a slow machine only makes the test longer.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import yaml

from tests.support.hostile_upstream import BIG_SCHEDULE, BIG_SCHEDULE_STRIPS, HostileUpstream, fault_targets, target_of
from tests.support.process import ExporterProcess, value

FLOOR_GROWTH_BOUND_MB = 100
"""How far the floor may rise between the windows. Before the fix every poll kept about 22 MB, so
the late window's floor was several hundred MB above the early one's."""
EARLY = range(2 * (BIG_SCHEDULE_STRIPS + 1), 6 * (BIG_SCHEDULE_STRIPS + 1))
"""Requests served (each poll is one strip list and six big answers): polls 3 to 6."""
LATE_POLLS = (14, 18)
DEADLINE = 240.0


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


async def test_refused_big_answers_do_not_pile_up(tmp_path: Path) -> None:
    late = range(LATE_POLLS[0] * (BIG_SCHEDULE_STRIPS + 1), LATE_POLLS[1] * (BIG_SCHEDULE_STRIPS + 1))
    async with HostileUpstream() as upstream:
        config = {
            "global": {"interval": "2s", "timeout": "2s", "backoff_max": "2s", "jitter": 0},
            "targets": fault_targets(upstream, [BIG_SCHEDULE]),
        }
        async with ExporterProcess(tmp_path, yaml.safe_dump(config)) as exp:
            assert exp.proc is not None
            floors: dict[str, float] = {}
            deadline = time.monotonic() + DEADLINE
            while upstream.hits[BIG_SCHEDULE.name] < late.stop:
                assert time.monotonic() < deadline, f"only {upstream.hits[BIG_SCHEDULE.name]} requests served"
                served = upstream.hits[BIG_SCHEDULE.name]
                for name, window in (("early", EARLY), ("late", late)):
                    if served in window:
                        floors[name] = min(floors.get(name, float("inf")), rss_mb(exp.proc.pid))
                await asyncio.sleep(0.1)
            samples = await exp.metrics()
            logs = exp.logs()
    refused = value(
        samples,
        "powerstrip_exporter_target_poll_failures_total",
        source="cloudtrax",
        target=target_of(BIG_SCHEDULE),
        reason="bad_response",
    )
    assert refused is not None and refused >= 1, "the answers were refused as bad_response"
    assert "exceeds max_items_per_answer" in logs
    assert "Traceback" not in logs
    assert floors["late"] - floors["early"] < FLOOR_GROWTH_BOUND_MB, floors
