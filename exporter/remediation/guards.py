"""The guard rails' memory: what was decided, how often a target was acted on, each rule's budget.

Everything is bounded: entries expire, and the oldest are dropped past a cap.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict, deque

EpisodeKey = tuple[str, str, float]
"""(rule, alert fingerprint, startsAt as Unix time): one firing episode of one alert."""

MAX_EPISODES = 10_000
EPISODE_RETENTION = 7 * 24 * 3600.0
"""Refreshed on every resend, so an alert that keeps firing is remembered as long as it fires."""
MAX_TARGETS = 10_000


class Episodes:
    """Act once: remembers episodes that were decided, so resends and an HA pair's duplicates do nothing."""

    def __init__(self, capacity: int = MAX_EPISODES, retention: float = EPISODE_RETENTION) -> None:
        self.capacity = capacity
        self.retention = retention
        self._seen: OrderedDict[EpisodeKey, float] = OrderedDict()

    def seen(self, key: EpisodeKey, now: float) -> bool:
        """True if already decided (and refreshes it); False otherwise, without recording it."""
        self._expire(now)
        if key in self._seen:
            self._seen[key] = now
            self._seen.move_to_end(key)
            return True
        return False

    def record(self, key: EpisodeKey, now: float) -> None:
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, last = next(iter(self._seen.items()))
            if now - last < self.retention:
                break
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)


class SlidingCount:
    """Events in the last `window` seconds, for one key; reservations can be handed back."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)

    def remove(self, when: float) -> None:
        with contextlib.suppress(ValueError):  # already expired
            self._times.remove(when)

    def clear(self) -> None:
        self._times.clear()


class TargetLimit:
    """At most `limit` actions per target per `window`."""

    def __init__(self, limit: int, window: float, capacity: int = MAX_TARGETS) -> None:
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self._targets: OrderedDict[str, SlidingCount] = OrderedDict()

    def _counter(self, target: str) -> SlidingCount:
        counter = self._targets.get(target)
        if counter is None:
            counter = self._targets[target] = SlidingCount(self.window)
        counter.window = self.window
        self._targets.move_to_end(target)
        while len(self._targets) > self.capacity:
            self._targets.popitem(last=False)
        return counter

    def allows(self, target: str, now: float) -> bool:
        counter = self._targets.get(target)
        if counter is None:
            return True
        counter.window = self.window
        return counter.count(now) < self.limit

    def add(self, target: str, now: float) -> None:
        self._counter(target).add(now)

    def remove(self, target: str, when: float) -> None:
        counter = self._targets.get(target)
        if counter is not None:
            counter.remove(when)


class Breaker:
    """A rule's hourly budget. Asked for more than it has, it opens; it closes on its timer or a reload."""

    def __init__(self, budget: int, reset_after: float) -> None:
        self.budget = budget
        self.reset_after = reset_after
        self.spent = SlidingCount(3600.0)
        self.opened_at: float | None = None

    def is_open(self, now: float) -> bool:
        if self.opened_at is not None and now - self.opened_at >= self.reset_after:
            self.opened_at = None
        return self.opened_at is not None

    def take(self, now: float) -> bool:
        """Spend one unit of budget; when none is left, open instead and return False."""
        if self.is_open(now):
            return False
        if self.spent.count(now) >= self.budget:
            self.opened_at = now
            return False
        self.spent.add(now)
        return True

    def refund(self, when: float) -> None:
        self.spent.remove(when)

    def reset(self) -> None:
        self.opened_at = None
        self.spent.clear()
