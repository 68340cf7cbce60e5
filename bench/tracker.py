"""Following an exporter's polls from outside, and counting the API calls of whole polls only.

Both exporters the benchmark runs export the same four target status families (up, polls, the end
of the last good poll and its duration), so one tracker follows either through `name[]=` probes.
"""

from __future__ import annotations

import math
import re
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bench.procs import Child

STATUS_NAMES = (
    "powerstrip_exporter_target_up",
    "powerstrip_exporter_target_polls_total",
    "powerstrip_exporter_target_last_success_timestamp_seconds",
    "powerstrip_exporter_target_poll_duration_seconds",
)
CUT_MARGIN = 0.005
"""Seconds a poll must have begun after a cut instant: its start is its end minus its duration, read
from two clocks a GIL hand-over apart, so it may come out a little late."""
_STATUS_LINE = re.compile(r'^(\w+)\{source="([^"]*)",target="([^"]*)"\} (\S+)$')

Key = tuple[str, str]
"""(source, target)"""


def http_get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


@dataclass
class Poll:
    start: float
    end: float
    up: bool


@dataclass
class Tracker:
    """Follows each target's polls through the exporter's target status families."""

    url: str
    targets: int
    polls: dict[Key, dict[int, Poll]] = field(default_factory=dict)

    def probe(self) -> None:
        query = urlencode([("name[]", n) for n in STATUS_NAMES])
        text = http_get(f"{self.url}/metrics?{query}").decode()
        seen: dict[Key, dict[str, float]] = {}
        for line in text.splitlines():
            m = _STATUS_LINE.match(line)
            if m and m.group(1) in STATUS_NAMES:
                seen.setdefault((m.group(2), m.group(3)), {})[m.group(1)] = float(m.group(4))
        for key, vals in seen.items():
            count = int(vals.get("powerstrip_exporter_target_polls_total", 0))
            if count <= 0:
                continue
            up = vals.get("powerstrip_exporter_target_up", 0.0) == 1.0
            end = vals.get("powerstrip_exporter_target_last_success_timestamp_seconds")
            duration = vals.get("powerstrip_exporter_target_poll_duration_seconds")
            record = self.polls.setdefault(key, {})
            if count not in record and end is not None and duration is not None and up:
                record[count] = Poll(end - duration, end, up)
            elif count not in record:
                record[count] = Poll(math.nan, math.nan, False)

    def completed(self) -> int:
        """Cycles every target has finished (0 until all targets are known)."""
        if len(self.polls) < self.targets:
            return 0
        return min((max(r) if r else 0) for r in self.polls.values())

    def all_up(self) -> bool:
        """Every target's latest poll succeeded."""
        return len(self.polls) >= self.targets and all(r and r[max(r)].up for r in self.polls.values())

    def wait(self, until: Callable[[], bool], timeout: float, child: Child, every: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with suppress(OSError):
                self.probe()
            if until():
                return
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name}: not there after {timeout:.0f}s")
            time.sleep(every)

    def window(self, cycle: int) -> tuple[float, float] | None:
        """First start and last end of one cycle over the targets that succeeded in it."""
        polls = [r[cycle] for r in self.polls.values() if cycle in r and r[cycle].up]
        if not polls:
            return None
        return min(p.start for p in polls), max(p.end for p in polls)

    def cut(self, near: float, earliest: float = -math.inf) -> tuple[float, dict[Key, int]] | None:
        """The instant closest to `near` (and not before `earliest`) at which no target was polling,
        with the polls each had finished by then; None when no such instant is known. Candidates are
        poll ends (+1 ms); one qualifies only when, for every target, the poll after it is known and
        began at least `CUT_MARGIN` later (a poll's start is derived from two clocks)."""
        ends = {p.end + 0.001 for r in self.polls.values() for p in r.values() if math.isfinite(p.end)}
        for instant in sorted((t for t in ends if t >= earliest), key=lambda t: abs(t - near)):
            done = {k: self._finished_by(k, instant) for k in self.polls}
            if all(c is not None for c in done.values()):
                return instant, {k: c for k, c in done.items() if c is not None}
        return None

    def _ended_by(self, key: Key, instant: float) -> int:
        return max((c for c, p in self.polls.get(key, {}).items() if p.end < instant), default=0)

    def _finished_by(self, key: Key, instant: float) -> int | None:
        """Polls `key` had finished at `instant`, if it was provably not polling then."""
        finished = self._ended_by(key, instant)
        after = self.polls.get(key, {}).get(finished + 1)
        return finished if after is not None and after.start > instant + CUT_MARGIN else None


Counts = Callable[[float | None], dict[str, int]]
"""API calls by endpoint that arrived before an instant (None: all), from the simulator's ledger."""


def calls_per_cycle(
    tracker: Tracker, counts: Counts, near: tuple[float, float], earliest: float = -math.inf
) -> tuple[dict[str, float], float]:
    """API calls per cycle by endpoint, counted between two instants at which no target was polling, so
    that every poll in the window is counted whole, however the window falls; and the polls per target
    in that window. No instant before `earliest` is used (a target's first poll reads more). Raises when
    there are no such instants (the count would be a guess) or no whole poll between them."""
    first, last = tracker.cut(near[0], earliest), tracker.cut(near[1], earliest)
    if first is None or last is None or last[0] <= first[0]:
        raise RuntimeError("API calls: no instant at which no target was polling")
    (start, before), (end, after) = first, last
    per_target = sum(after[k] - before[k] for k in after) / len(after)
    if per_target <= 0:
        raise RuntimeError(f"API calls: no whole poll between {start:.3f} and {end:.3f}")
    now, then = counts(end), counts(start)
    by_endpoint = {k: (now[k] - then.get(k, 0)) / per_target for k in sorted(now) if now[k] - then.get(k, 0)}
    return by_endpoint, per_target
