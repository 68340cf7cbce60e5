"""Arrival times of the requests a simulator received, kept so counts can be cut at any instant.

A benchmark that reads a simulator's counters while a poll is in flight counts part of that
poll. With the arrival times kept, it can instead ask for the counts before an instant at
which it knows no poll was running (from the exporter's own poll timestamps), and so count
whole polls only. Times are wall-clock seconds, the clock the exporter's timestamps use.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field

KEEP_PER_KEY = 1 << 18
"""Arrival times kept per key (2 MB): a long-running demo must not grow without bound. When a key
has more, the older half is folded into a plain count, and instants before what is kept can no
longer be cut at. A benchmark cuts within its last few minutes, far inside this."""


class CutTooEarly(ValueError):
    """The instant is older than the oldest arrival time still kept."""


def parse_before(value: str | None) -> float | None:
    """The `before` query parameter of a simulator's counts endpoint: an instant, or None for all."""
    if value is None:
        return None
    try:
        before = float(value)
    except ValueError:
        raise ValueError(f"before: expected seconds since the epoch, got {value!r}") from None
    if before != before:  # NaN would cut nowhere
        raise ValueError(f"before: expected seconds since the epoch, got {value!r}")
    return before


@dataclass
class _Arrivals:
    times: array[float] = field(default_factory=lambda: array("d"))
    folded: int = 0
    """Arrivals dropped from `times`, all earlier than its first entry."""


class RequestLedger:
    """Requests by key ("GET /powerstrip/{powerstrip_id}"), each with its arrival time."""

    def __init__(self, keep_per_key: int = KEEP_PER_KEY) -> None:
        self._arrivals: dict[str, _Arrivals] = {}
        self._keep = max(2, keep_per_key)

    def record(self, key: str, at: float | None = None) -> None:
        entry = self._arrivals.setdefault(key, _Arrivals())
        now = time.time() if at is None else at
        times = entry.times
        # Kept in order so a binary search can cut them: a clock stepping back is clamped to the last.
        times.append(max(now, times[-1]) if times else now)
        if len(times) > self._keep:
            drop = len(times) // 2
            entry.folded += drop
            del times[:drop]

    def counts(self, before: float | None = None) -> dict[str, int]:
        """Requests per key; with `before`, only those that arrived earlier than that instant.
        Raises CutTooEarly when `before` falls among arrivals already folded away."""
        if before is None:
            return {key: e.folded + len(e.times) for key, e in self._arrivals.items()}
        cut: dict[str, int] = {}
        for key, entry in self._arrivals.items():
            if entry.folded and before <= entry.times[0]:
                raise CutTooEarly(f"before: {before} is older than the oldest arrival kept for {key!r}")
            n = entry.folded + bisect_left(entry.times, before)
            if n:
                cut[key] = n
        return cut

    def total(self, before: float | None = None) -> int:
        return sum(self.counts(before).values())

    def clear(self) -> None:
        self._arrivals.clear()
