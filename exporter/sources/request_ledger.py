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


class RequestLedger:
    """Requests by key ("GET /powerstrip/{powerstrip_id}"), each with its arrival time."""

    def __init__(self) -> None:
        self._arrivals: dict[str, array[float]] = {}

    def record(self, key: str, at: float | None = None) -> None:
        """Arrivals are recorded in time order (one event loop), so a binary search can cut them."""
        self._arrivals.setdefault(key, array("d")).append(time.time() if at is None else at)

    def counts(self, before: float | None = None) -> dict[str, int]:
        """Requests per key; with `before`, only those that arrived earlier than that instant."""
        if before is None:
            return {key: len(times) for key, times in self._arrivals.items()}
        cut = {key: bisect_left(times, before) for key, times in self._arrivals.items()}
        return {key: n for key, n in cut.items() if n}

    def total(self, before: float | None = None) -> int:
        return sum(self.counts(before).values())

    def clear(self) -> None:
        self._arrivals.clear()
