"""Keeps the energy ledger in `<storage.path>/cloudtrax-energy.json` so a restart continues it exactly.

Saved: per strip the high-water mark (time of the last counted sample), the sample spacing and the
joules per port. A restarted process loads them and counts only samples after the mark, so its
counters continue where the last save left them, as long as the usage window it reads still
reaches back to that mark (2 hours by default). A save that lags behind the counters is still
exact: the next read counts the samples after the saved mark again, once, and the counters
catch up before they are first exported.

Writes are cheap: one file, written in the background (in a worker thread) after a poll that
changed the ledger, never more than one write at a time, and once more when the source shuts down.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from exporter.sources.cloudtrax.energy import (
    DEFAULT_LEDGER,
    FUTURE_SKEW_SECONDS,
    MAX_PORT_POWER_W,
    EnergyLedger,
    StripEnergy,
)
from exporter.storage import StateFile

log = structlog.get_logger("exporter.sources.cloudtrax")

STATE_KIND = "cloudtrax-energy"
STATE_VERSION = 1

_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Joules = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _SavedStrip(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    network_id: StrictInt
    powerstrip_id: StrictInt
    high_water: _Finite
    spacing: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None
    joules: dict[str, _Joules]


class _SavedLedger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strips: list[_SavedStrip]


MAX_MARK_AGE_SECONDS = 35 * 86_400.0
"""A saved mark older than this is not trusted: no usage window reaches back that far (the longest,
`month`, is 30 days), so a mark like 0 or -1e308 can only be corrupt, and continuing from it would
count the whole window read after the restart as if it were new."""

MAX_PORT_JOULES = MAX_PORT_POWER_W * 100 * 365 * 86_400.0
"""A century at the highest power the ledger counts on one port: no saved counter can be larger."""


def parse_state(data: Any, *, now: float | None = None) -> dict[tuple[int, int], StripEnergy]:
    """Validate saved data; raises ValueError on anything this exporter would not have written.

    A saved strip is checked on its own: one with a counter beyond what a port could have counted
    is dropped (it starts again as a new strip); one whose mark is in the future (a clock that was
    wrong when it was saved) or older than any usage window keeps its joules and takes its next
    read as a first read. Each kind of problem is one warning. Ports the strip does not list go at
    its first read (`EnergyLedger.integrate`).
    """
    saved = _SavedLedger.model_validate(data)
    wall = time.time() if now is None else now
    newest, oldest = wall + FUTURE_SKEW_SECONDS, wall - MAX_MARK_AGE_SECONDS
    strips: dict[tuple[int, int], StripEnergy] = {}
    problems: dict[str, list[tuple[int, int]]] = {}
    for s in saved.strips:
        key = (s.network_id, s.powerstrip_id)
        if key in strips:
            raise ValueError(f"strip {key} saved twice")
        if any(j > MAX_PORT_JOULES for j in s.joules.values()):
            problems.setdefault("a counter larger than any port could count: state dropped", []).append(key)
            continue
        resync = not oldest <= s.high_water <= newest
        if resync:
            problems.setdefault("high-water mark in the future or too old: joules kept, next read starts", []).append(
                key
            )
        strips[key] = StripEnergy(high_water=s.high_water, spacing=s.spacing, joules=dict(s.joules), resync=resync)
    for problem, keys in problems.items():
        log.warning(
            "saved energy state not trusted for some strips",
            problem=problem,
            strips=len(keys),
            first=[f"{nid}/{sid}" for nid, sid in keys[:5]],
        )
    return strips


class EnergyStore:
    """A ledger and, with a storage directory, the file it is saved in."""

    def __init__(self, ledger: EnergyLedger, directory: Path | None = None) -> None:
        self.ledger = ledger
        self.file = StateFile(directory, STATE_KIND, STATE_VERSION) if directory is not None else None
        self._saved = ledger.revision
        self._written = -1
        self._write_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def load(self) -> None:
        """Adopt the saved state, if there is a usable one (else one warning and a clean start)."""
        if self.file is None:
            return
        strips = self.file.load(partial(parse_state, now=self.ledger.wall_clock()))
        if strips:
            self.ledger.restore(strips)
        self._saved = self.ledger.revision

    @property
    def unsaved(self) -> bool:
        return self.file is not None and self.ledger.revision != self._saved

    def request_save(self) -> None:
        """After a poll changed the ledger: write it in the background, so a slow disk never holds
        up (or times out) a poll. One writer at a time; it writes again while the ledger moves on."""
        if not self.unsaved or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._save(), name="save cloudtrax energy")

    async def flush(self) -> None:
        """Wait for a background write, then write whatever is still unsaved (at shutdown)."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])
        await self._save()

    async def _save(self) -> None:
        while self.unsaved:
            revision = self.ledger.revision
            data = {"strips": self.ledger.export_state()}
            if not await asyncio.to_thread(self._write, revision, data):
                return  # logged by the state file; the next poll that changes the ledger tries again
            self._saved = max(self._saved, revision)

    def _write(self, revision: int, data: Mapping[str, Any]) -> bool:
        """In a worker thread: write unless a newer revision already is (writes may finish out of order)."""
        assert self.file is not None
        with self._write_lock:
            if revision <= self._written:
                return True
            if not self.file.save(data):
                return False
            self._written = revision
            return True


_shared: dict[Path | None, EnergyStore] = {}


def shared_store(directory: Path | None) -> EnergyStore:
    """The process-wide store for a storage directory (None: the unsaved default ledger).

    Every CloudTrax group shares it, so config reloads and several accounts keep one ledger and
    one file. It is loaded from disk once, when first asked for.
    """
    key = directory.resolve() if directory is not None else None
    store = _shared.get(key)
    if store is None:
        store = EnergyStore(DEFAULT_LEDGER if key is None else EnergyLedger(), key)
        store.load()
        _shared[key] = store
    return store
