"""The guard rails' memory: what was decided, how often a target was acted on, each rule's budget.

Everything is bounded, and by what matters rather than by arrival: entries expire, and past a cap
the least valuable go first. An episode that called a device outlives any number of refusals, and
a refusal leaves no per-target history behind, so a flood of alerts that called nothing cannot make
the exporter forget what it did.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict, deque
from collections.abc import Iterator
from enum import IntEnum

EpisodeKey = tuple[str, str, float]
"""(rule, alert fingerprint, startsAt as Unix time): one firing episode of one alert."""

MAX_EPISODES = 10_000
EPISODE_RETENTION = 7 * 24 * 3600.0
"""Refreshed on every resend, so an alert that keeps firing is remembered as long as it fires."""
MAX_TARGETS = 10_000


class Kind(IntEnum):
    """How an episode was decided, in the order memory gives them up when full (lowest first)."""

    REFUSED = 0
    """Decided without calling anything: refused, limited, breaker open."""
    DEFERRED = 1
    """Refused for a cooldown; a retry is scheduled."""
    DRY_RUN = 2
    CALLED = 3
    """A device was called, or is being called: acted, failed."""


class Episodes:
    """Act once: remembers episodes that were decided, so resends and an HA pair's duplicates do nothing.

    Past `capacity`, the oldest episode of the lowest `Kind` present is forgotten: a refusal never
    displaces an episode that called a device."""

    def __init__(self, capacity: int = MAX_EPISODES, retention: float = EPISODE_RETENTION) -> None:
        self.capacity = capacity
        self.retention = retention
        self._kinds: dict[EpisodeKey, Kind] = {}
        self._by_kind: dict[Kind, OrderedDict[EpisodeKey, float]] = {kind: OrderedDict() for kind in Kind}
        """Per kind, last sighting by key, oldest first."""

    def seen(self, key: EpisodeKey, now: float) -> bool:
        """True if already decided (and refreshes it); False otherwise, without recording it."""
        self._expire(now)
        kind = self._kinds.get(key)
        if kind is None:
            return False
        entries = self._by_kind[kind]
        entries[key] = now
        entries.move_to_end(key)
        return True

    def kind(self, key: EpisodeKey) -> Kind | None:
        return self._kinds.get(key)

    def record(self, key: EpisodeKey, now: float, kind: Kind) -> None:
        """Remember `key` as decided (or re-classify it); may forget a less valuable episode."""
        old = self._kinds.get(key)
        if old is not None:
            del self._by_kind[old][key]
        self._kinds[key] = kind
        self._by_kind[kind][key] = now
        while len(self._kinds) > self.capacity:
            lowest = next(entries for entries in self._by_kind.values() if entries)
            gone, _ = lowest.popitem(last=False)
            del self._kinds[gone]

    def forget(self, key: EpisodeKey) -> None:
        kind = self._kinds.pop(key, None)
        if kind is not None:
            del self._by_kind[kind][key]

    def _expire(self, now: float) -> None:
        for entries in self._by_kind.values():
            while entries:
                key, last = next(iter(entries.items()))
                if now - last < self.retention:
                    break
                del entries[key]
                del self._kinds[key]

    def entries(self) -> Iterator[tuple[EpisodeKey, Kind, float]]:
        """Every remembered episode with its kind and last sighting, least valuable first."""
        for kind, entries in self._by_kind.items():
            for key, last in entries.items():
                yield key, kind, last

    def __len__(self) -> int:
        return len(self._kinds)


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

    def times(self) -> list[float]:
        return list(self._times)

    def __len__(self) -> int:
        return len(self._times)


class TargetLimit:
    """At most `limit` actions per target per `window`.

    Only actions that stay counted keep a target here: a reservation handed back leaves nothing
    behind. Past `capacity`, targets with nothing left in the window go first, then the oldest."""

    def __init__(self, limit: int, window: float, capacity: int = MAX_TARGETS) -> None:
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self._targets: OrderedDict[str, SlidingCount] = OrderedDict()

    def allows(self, target: str, now: float) -> bool:
        counter = self._targets.get(target)
        if counter is None:
            return True
        counter.window = self.window
        return counter.count(now) < self.limit

    def add(self, target: str, now: float) -> None:
        counter = self._targets.get(target)
        if counter is None:
            counter = self._targets[target] = SlidingCount(self.window)
        counter.window = self.window
        self._targets.move_to_end(target)
        counter.add(now)
        if len(self._targets) > self.capacity:
            self._shrink(now)

    def remove(self, target: str, when: float) -> None:
        counter = self._targets.get(target)
        if counter is not None:
            counter.remove(when)
            if not counter:
                del self._targets[target]

    def _shrink(self, now: float) -> None:
        for target, counter in list(self._targets.items()):
            counter.window = self.window
            if counter.count(now) == 0:
                del self._targets[target]
        while len(self._targets) > self.capacity:
            self._targets.popitem(last=False)

    def history(self) -> dict[str, list[float]]:
        """Each target's counted actions (times), oldest target first."""
        return {target: counter.times() for target, counter in self._targets.items() if counter}

    def restore(self, history: dict[str, list[float]]) -> None:
        for target, times in history.items():
            for when in sorted(times):
                self.add(target, when)

    def __len__(self) -> int:
        return len(self._targets)


class Breaker:
    """A rule's hourly budget. Asked for more than it has, it opens; it closes on its timer, or when
    someone with the right closes it early (`reset`)."""

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
        """Close now, with a fresh budget."""
        self.opened_at = None
        self.spent.clear()
