"""The guard rails' memory as one state file, `<storage.path>/remediation.json`, so a restart forgets nothing.

Kept: decided episodes, each rule's per-target history, budget and breaker, pending verifications,
and retries waiting for a cooldown. In memory, times are on the monotonic clock (a wall clock that
jumps must not reopen a window); on disk they are wall-clock times, since a monotonic clock starts
again with the process. A past event read as in the future (a clock that was wrong when it was
saved) is taken as now: windows then last their full length, never longer.

A file that cannot be read is reported once by `StateFile` and memory starts empty, as it did
without a storage directory. Everything read is bounded as memory itself is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field

from exporter.remediation.guards import (
    EPISODE_RETENTION,
    MAX_EPISODES,
    MAX_TARGETS,
    Breaker,
    EpisodeKey,
    Episodes,
    Kind,
    TargetLimit,
)
from exporter.storage import StateFile

log = structlog.get_logger("exporter.remediation")

STATE_KIND = "remediation"
STATE_VERSION = 1
MAX_PENDING = 10_000
MAX_DEFERRED = 1_000
"""Retries waiting for a cooldown; past this, a cooldown refusal is final."""
MAX_RULES = 1_000
MAX_DUE = EPISODE_RETENTION
"""A verification or retry read from the file is due within this, whatever the file says."""


class Clock(Protocol):
    """Memory keeps monotonic times (`mono`); the file holds wall-clock ones (`wall`), see `_Times`."""

    def wall(self) -> float: ...

    def mono(self) -> float: ...


@dataclass
class RuleMemory:
    """One rule's guard rails; kept across reloads under the rule's name."""

    limit: TargetLimit
    breaker: Breaker
    timer: asyncio.TimerHandle | None = None
    """Closes the breaker's gauge when `breaker_reset` has passed."""


@dataclass
class Pending:
    """An action waiting for its alert to resolve (verification)."""

    rule: str
    target: str
    deadline: float
    timer: asyncio.TimerHandle | None = None


@dataclass
class Deferred:
    """An episode refused for a cooldown, to be tried again when it has passed."""

    rule: str
    params: dict[str, int | str]
    target: str
    client: str
    retry_at: float
    tries: int
    timer: asyncio.TimerHandle | None = None


@dataclass
class Memory:
    episodes: Episodes = field(default_factory=Episodes)
    rules: dict[str, RuleMemory] = field(default_factory=dict)
    pending: dict[tuple[str, float], Pending] = field(default_factory=dict)
    """By (fingerprint, startsAt)."""
    deferred: dict[EpisodeKey, Deferred] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedRule:
    """A rule's saved guard rails, on the monotonic clock, until the config says what the rule is."""

    spent: list[float]
    opened_at: float | None
    targets: dict[str, list[float]]


# -- the file ------------------------------------------------------------------------------------

_Time = Annotated[float, Field(allow_inf_nan=False)]
_Name = Annotated[str, Field(min_length=1, max_length=64)]
_Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{1,32}$")]
_Text = Annotated[str, Field(max_length=512)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Episode(_Strict):
    rule: _Name
    fingerprint: _Fingerprint
    starts: _Time
    kind: Annotated[int, Field(ge=0, le=max(Kind))]
    seen: _Time


class _Rule(_Strict):
    spent: Annotated[list[_Time], Field(max_length=1000)]
    opened_at: _Time | None
    targets: Annotated[dict[_Text, Annotated[list[_Time], Field(max_length=100)]], Field(max_length=MAX_TARGETS)]


class _Pending(_Strict):
    rule: _Name
    fingerprint: _Fingerprint
    starts: _Time
    target: _Text
    deadline: _Time


class _Deferred(_Strict):
    rule: _Name
    fingerprint: _Fingerprint
    starts: _Time
    params: Annotated[dict[Annotated[str, Field(max_length=64)], int | _Text], Field(max_length=16)]
    target: _Text
    client: _Text
    retry_at: _Time
    tries: Annotated[int, Field(ge=0, le=100)]


class _Document(_Strict):
    episodes: Annotated[list[_Episode], Field(max_length=MAX_EPISODES)]
    rules: Annotated[dict[_Name, _Rule], Field(max_length=MAX_RULES)]
    pending: Annotated[list[_Pending], Field(max_length=MAX_PENDING)]
    deferred: Annotated[list[_Deferred], Field(max_length=MAX_DEFERRED)]


class _Times:
    """Converts between the monotonic clock (memory) and the wall clock (file) at one instant."""

    def __init__(self, clock: Clock) -> None:
        self.wall_now, self.mono_now = clock.wall(), clock.mono()

    def to_wall(self, mono: float) -> float:
        return round(mono - self.mono_now + self.wall_now, 3)

    def to_mono(self, wall: float) -> float:
        """A past event (a sighting, an action, an opening): never later than now."""
        return min(wall, self.wall_now) - self.wall_now + self.mono_now

    def due(self, wall: float) -> float:
        """A time something is due (a verification's end, a retry): at most MAX_DUE ahead."""
        return min(wall, self.wall_now + MAX_DUE) - self.wall_now + self.mono_now


def dump(memory: Memory, clock: Clock) -> dict[str, Any]:
    """Memory as the state file's data (plain JSON types)."""
    t = _Times(clock)
    return {
        "episodes": [
            {"rule": k[0], "fingerprint": k[1], "starts": k[2], "kind": int(kind), "seen": t.to_wall(seen)}
            for k, kind, seen in memory.episodes.entries()
        ],
        "rules": {
            name: {
                "spent": [t.to_wall(x) for x in rule.breaker.spent.times()],
                "opened_at": None if rule.breaker.opened_at is None else t.to_wall(rule.breaker.opened_at),
                "targets": {k: [t.to_wall(x) for x in v] for k, v in rule.limit.history().items()},
            }
            for name, rule in memory.rules.items()
        },
        "pending": [
            {"rule": p.rule, "fingerprint": fp, "starts": starts, "target": p.target, "deadline": t.to_wall(p.deadline)}
            for (fp, starts), p in memory.pending.items()
        ],
        "deferred": [
            {
                "rule": d.rule,
                "fingerprint": k[1],
                "starts": k[2],
                "params": d.params,
                "target": d.target,
                "client": d.client,
                "retry_at": t.to_wall(d.retry_at),
                "tries": d.tries,
            }
            for k, d in memory.deferred.items()
        ],
    }


@dataclass
class Loaded:
    """A state file's content, on this process's monotonic clock; rules wait for the config."""

    memory: Memory
    rules: dict[str, SavedRule]


def parse(data: Any, clock: Clock) -> Loaded:
    """Validate saved data; raises ValueError on anything this exporter would not have written."""
    document = _Document.model_validate(data)
    t = _Times(clock)
    memory = Memory()
    for e in sorted(document.episodes, key=lambda e: (e.kind, e.seen)):
        memory.episodes.record((e.rule, e.fingerprint, e.starts), t.to_mono(e.seen), Kind(e.kind))
    for p in document.pending:
        memory.pending[(p.fingerprint, p.starts)] = Pending(p.rule, p.target, t.due(p.deadline))
    for d in document.deferred:
        key = (d.rule, d.fingerprint, d.starts)
        memory.deferred[key] = Deferred(d.rule, dict(d.params), d.target, d.client, t.due(d.retry_at), d.tries)
    rules = {
        name: SavedRule(
            spent=sorted(t.to_mono(x) for x in r.spent),
            opened_at=None if r.opened_at is None else t.to_mono(r.opened_at),
            targets={target: [t.to_mono(x) for x in times] for target, times in r.targets.items()},
        )
        for name, r in document.rules.items()
    }
    return Loaded(memory, rules)


def restore_rule(saved: SavedRule, rule: RuleMemory) -> None:
    """Put a saved rule's history into its (freshly configured) guard rails."""
    for when in saved.spent:
        rule.breaker.spent.add(when)
    rule.breaker.opened_at = saved.opened_at
    rule.limit.restore(saved.targets)


# -- writing it ----------------------------------------------------------------------------------

SAVE_DELAY = 1.0
"""Changes that need not be on disk before a device is called are written at most this often."""


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()


class MemoryFile:
    """`remediation.json`, written whole, off the loop, one write at a time and in order: at once
    before a device is called (`save_now`), else at most once per `SAVE_DELAY` (`save_soon`).
    Without `--storage.path` nothing is read or written, and every write succeeds."""

    def __init__(self, storage: Path | None, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.file = StateFile(storage, STATE_KIND, STATE_VERSION) if storage is not None else None
        self._snapshot = snapshot
        """Memory as it is when a write starts (`dump`)."""
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[bool]] = set()

    def load(self, clock: Clock) -> Loaded | None:
        if self.file is None:
            return None
        loaded = self.file.load(lambda data: parse(data, clock))
        if loaded is not None:
            log.info(
                "remediation memory loaded",
                file=str(self.file.path),
                episodes=len(loaded.memory.episodes),
                pending=len(loaded.memory.pending),
                retries=len(loaded.memory.deferred),
            )
        return loaded

    async def save_now(self) -> bool:
        """False when memory could not be written."""
        if self.file is None:
            return True
        async with self._lock:
            return await asyncio.to_thread(self.file.save, self._snapshot())

    def save_soon(self) -> None:
        if self.file is None or self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(SAVE_DELAY, self._save_later)

    def _save_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.save_now())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def aclose(self) -> None:
        """Write a last time, after any write under way."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.gather(*self._writes, return_exceptions=True)
        await self.save_now()
