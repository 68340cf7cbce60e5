"""The derived per-port energy counter.

CloudTrax has no energy counter, only power samples in the usage history. The ledger integrates
them: each new sample's active power times the time since the sample before it. Samples already
counted (the history windows of successive usage calls overlap) are skipped by a per-strip
high-water mark, so a counter only ever grows and no sample is counted twice.

A strip the ledger has no state for (a new process without `--storage.path`, or a strip first
seen now) starts at its first read: that read's samples only set the high-water mark, and only
samples published after it are counted. A restart therefore never counts the history window a
second time. With a storage path the state is saved (see `energy_store`) and a restarted process
continues from the saved mark exactly.

Each reading is checked on its own; a bad one costs only its own interval and is counted by
reason (`REJECT_REASONS`). Only the ports the strip itself lists are counted, so a usage answer
naming others cannot grow the ledger (or the state file) beyond the strip's real ports. The
ledger is process-wide by default and keyed exactly like the exported series (network, strip,
port), so a config reload that rebuilds the targets does not reset or double-count it.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from exporter.sources.cloudtrax.models import UsagePort, UsageSample

log = structlog.get_logger("exporter.sources.cloudtrax")

GAP_FACTOR = 2.5
"""An interval longer than this many typical spacings is a hole in the history (strip
offline, samples missing); it is skipped rather than guessed."""

MIN_SPACING_EVIDENCE = 3
"""Intervals a read needs before its median replaces a known sample spacing."""

MAX_INTERVAL_SECONDS = 86_400.0
"""No interval longer than a day is counted, whatever the spacing (the month window's is 155 minutes)."""

MAX_PORT_POWER_W = 10_000.0
"""Readings above this are not physical for one port of a power strip (CloudTrax strips are rated
at 15 A / 120 V or 16 A / 230 V, under 4 kW for the whole strip); they are rejected."""

FUTURE_SKEW_SECONDS = 900.0
"""A sample stamped later than the API's clock plus this is rejected. 15 minutes is the skew the
API itself tolerates before it refuses a request (and the client corrects its clock offset)."""

MAX_PORTS_PER_STRIP = 64
"""More ports than any power strip has (CloudTrax strips have six): a strip listing more is counted
for this many of them."""

MAX_REMEMBERED_FUTURE = 64
"""Far-future samples stay in every later window; per strip, this many are remembered so each is
counted as rejected once, not once per read."""

RejectReason = Literal["future_time", "null", "not_finite", "negative", "too_large", "unknown_port"]
REJECT_REASONS: tuple[RejectReason, ...] = (
    "future_time",
    "null",
    "not_finite",
    "negative",
    "too_large",
    "unknown_port",
)


@dataclass
class StripEnergy:
    """What the ledger knows of one strip: the last counted time, the sample spacing, joules per port."""

    high_water: float
    spacing: float | None = None
    joules: dict[str, float] = field(default_factory=dict)
    future_seen: set[float] = field(default_factory=set)
    resync: bool = False
    """Restored with a mark that cannot be trusted: keep the joules, take the next read as a first read."""


def reading_problem(power: float | None) -> RejectReason | None:
    """Why one port's active power cannot be counted (None: it can). Null is a hole, never zero."""
    if power is None:
        return "null"
    if not math.isfinite(power):
        return "not_finite"
    if power < 0:
        return "negative"
    if power > MAX_PORT_POWER_W:
        return "too_large"
    return None


class EnergyLedger:
    """Joule counters per (network_id, powerstrip_id, port_id)."""

    def __init__(self, *, wall_clock: Callable[[], float] = time.time, started: float | None = None) -> None:
        self.wall_clock = wall_clock
        self.started = wall_clock() if started is None else started
        """When counting began (this process); a strip whose first read has no samples starts here."""
        self._strips: dict[tuple[int, int], StripEnergy] = {}
        self._rejected: dict[int, dict[RejectReason, int]] = {}
        self._naming_unknown: set[tuple[int, int]] = set()
        """Strips whose last counted read named ports they do not have (logged once per change)."""
        self.revision = 0
        """Grows with every change of the counted state (what a save must capture)."""

    def integrate(
        self,
        network_id: int,
        powerstrip_id: int,
        samples: Sequence[UsageSample],
        *,
        clock_offset: float = 0.0,
        ports: AbstractSet[str] | None = None,
    ) -> None:
        """Count the energy of samples newer than the last one counted for this strip.

        `clock_offset` is the API's clock minus ours (the client's correction), so "the future" and
        the start time are judged on the API's time line. `ports` are the strip's own port ids (as
        its get lists them): readings of any other port are refused as `unknown_port` and never
        enter the ledger (None: every port is taken).
        """
        now = self.wall_clock() + clock_offset
        rejected = self._rejected.setdefault(network_id, dict.fromkeys(REJECT_REASONS, 0))
        key = (network_id, powerstrip_id)
        state = self._strips.get(key)
        future_seen = state.future_seen if state is not None else set()
        if ports is not None and len(ports) > MAX_PORTS_PER_STRIP:
            ports = frozenset(sorted(ports, key=lambda p: (len(p), p))[:MAX_PORTS_PER_STRIP])
        if state is not None and ports and not state.joules.keys() <= ports:
            self._forget_other_ports(key, state, ports)
        points: list[tuple[float, Mapping[str, UsagePort], int]] = []
        """(time, readings of the strip's own ports, readings of ports it does not have)"""
        for sample in samples:
            t = sample.time.timestamp()
            if t > now + FUTURE_SKEW_SECONDS:
                if t not in future_seen:
                    rejected["future_time"] += 1
                    if len(future_seen) < MAX_REMEMBERED_FUTURE:
                        future_seen.add(t)
                continue
            readings: Mapping[str, UsagePort] = sample.ports
            unknown = 0
            if ports is not None and not readings.keys() <= ports:
                readings = {port: reading for port, reading in readings.items() if port in ports}
                unknown = len(sample.ports) - len(readings)
            points.append((t, readings, unknown))
        points.sort(key=lambda p: p[0])
        times = [t for t, _, _ in points]
        if state is None or state.resync:
            # First read: it only sets the mark. Its window is history from before this process.
            mark = times[-1] if times else self.started + clock_offset
            if state is None:
                state = StripEnergy(high_water=mark, future_seen=future_seen)
                self._strips[key] = state
            state.high_water, state.resync = mark, False
            self._note_spacing(state, times)
            for _, readings, _ in points:
                for port in readings:
                    state.joules.setdefault(port, 0.0)
            self.revision += 1
            return
        before = (state.high_water, state.spacing, len(state.joules))
        self._note_spacing(state, times)
        gap_limit = min(GAP_FACTOR * state.spacing, MAX_INTERVAL_SECONDS) if state.spacing else None
        previous: float | None = None
        added = False
        fresh = unknown_ports = 0
        for t, readings, unknown in points:
            for port in readings:
                state.joules.setdefault(port, 0.0)
            if t <= state.high_water:
                previous = t
                continue
            fresh += 1
            unknown_ports += unknown
            last_sample = state.high_water if previous is None else previous
            counted_from = max(last_sample, state.high_water)
            if gap_limit is not None and last_sample < t and t - last_sample <= gap_limit:
                for port, reading in readings.items():
                    power = reading.active_power_w
                    problem = reading_problem(power)
                    if problem is not None:
                        rejected[problem] += 1
                    elif power:
                        state.joules[port] += power * (t - counted_from)
                        added = True
            previous = t
            state.high_water = t
        if fresh:
            rejected["unknown_port"] += unknown_ports
            self._note_unknown_ports(key, unknown_ports, ports)
        if added or before != (state.high_water, state.spacing, len(state.joules)):
            self.revision += 1

    def _forget_other_ports(self, key: tuple[int, int], state: StripEnergy, ports: AbstractSet[str]) -> None:
        """Counters of ports the strip does not list (state saved while an upstream invented ports)
        go: the ledger, the state file and the page hold only the strip's own ports."""
        others = len(state.joules.keys() - ports)
        state.joules = {port: joules for port, joules in state.joules.items() if port in ports}
        self.revision += 1
        log.warning(
            "energy counters of ports the strip does not list dropped",
            network_id=key[0],
            powerstrip_id=key[1],
            dropped=others,
            kept=len(state.joules),
        )

    def _note_unknown_ports(self, key: tuple[int, int], count: int, ports: AbstractSet[str] | None) -> None:
        """One warning when a strip's usage starts naming ports it does not have, one line when it stops."""
        if count and key not in self._naming_unknown:
            self._naming_unknown.add(key)
            log.warning(
                "usage names ports the strip does not list; their readings are not counted",
                network_id=key[0],
                powerstrip_id=key[1],
                strip_ports=len(ports or ()),
                refused=count,
            )
        elif not count and key in self._naming_unknown:
            self._naming_unknown.discard(key)
            log.info("usage names only the strip's own ports again", network_id=key[0], powerstrip_id=key[1])

    @staticmethod
    def _note_spacing(state: StripEnergy, times: Sequence[float]) -> None:
        diffs = [b - a for a, b in itertools.pairwise(times) if b > a]
        # Two or three points say little about the spacing (one hole is half of them); a spacing
        # learnt from a full window is kept over theirs.
        if len(diffs) >= MIN_SPACING_EVIDENCE or (diffs and state.spacing is None):
            state.spacing = statistics.median(diffs)

    def joules(self, network_id: int, powerstrip_id: int) -> Mapping[str, float]:
        """Counter values by port id (as the string the usage API keys ports by)."""
        state = self._strips.get((network_id, powerstrip_id))
        return dict(state.joules) if state else {}

    def rejected(self, network_id: int) -> Mapping[str, int]:
        """Readings refused so far for this network's strips, by reason (all reasons, from 0)."""
        counts = self._rejected.get(network_id, {})
        return {reason: counts.get(reason, 0) for reason in REJECT_REASONS}

    # -- persistence (see energy_store) ------------------------------------

    def export_state(self) -> list[dict[str, Any]]:
        """The counted state as plain data: enough for a restarted process to continue exactly."""
        return [
            {
                "network_id": nid,
                "powerstrip_id": sid,
                "high_water": s.high_water,
                "spacing": s.spacing,
                "joules": dict(s.joules),
            }
            for (nid, sid), s in self._strips.items()
        ]

    def restore(self, strips: Mapping[tuple[int, int], StripEnergy]) -> None:
        """Adopt saved state (already validated); strips read since keep what they have."""
        for key, state in strips.items():
            self._strips.setdefault(key, state)
        self.revision += 1


DEFAULT_LEDGER = EnergyLedger()
"""The process-wide ledger of a process without `--storage.path`, unless a test passes its own."""
