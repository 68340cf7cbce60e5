"""A clock tests step by hand: exact delays, energy and skew without sleeping."""

from __future__ import annotations

import time


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallAndMonoClock:
    """Remediation's clock (`exporter.remediation.memory.Clock`), both halves set by hand: the monotonic
    one at `mono_now`, the wall clock at `wall_now` (None: the real time, as alerts' `startsAt` is)
    shifted by `offset`."""

    def __init__(self, *, wall: float | None = None, mono: float = 1000.0) -> None:
        self.wall_now = wall
        self.offset = 0.0
        self.mono_now = mono

    def wall(self) -> float:
        return (time.time() if self.wall_now is None else self.wall_now) + self.offset

    def mono(self) -> float:
        return self.mono_now
