"""The derived per-port energy counter.

CloudTrax has no energy counter, only power samples in the usage history. The
ledger integrates them: each new sample's active power times the time since the
sample before it. Samples already counted (the history windows of successive
usage calls overlap) are skipped by a per-strip high-water mark, so a counter
only ever grows. The ledger is process-wide by default and keyed exactly like
the exported series (network, strip, port), so a config reload that rebuilds
the targets does not reset or double-count it.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter.sources.cloudtrax.models import UsageSample

GAP_FACTOR = 2.5
"""An interval longer than this many typical spacings is a hole in the history (strip
offline, samples missing); it is skipped rather than guessed."""


@dataclass
class _StripEnergy:
    high_water: float | None = None
    spacing: float | None = None
    joules: dict[str, float] = field(default_factory=dict)


class EnergyLedger:
    """Joule counters per (network_id, powerstrip_id, port_id)."""

    def __init__(self) -> None:
        self._strips: dict[tuple[int, int], _StripEnergy] = {}

    def integrate(self, network_id: int, powerstrip_id: int, samples: Sequence[UsageSample]) -> None:
        """Add the energy of samples newer than the last one counted for this strip."""
        state = self._strips.setdefault((network_id, powerstrip_id), _StripEnergy())
        points = sorted(samples, key=lambda s: s.time)
        times = [s.time.timestamp() for s in points]
        diffs = [b - a for a, b in itertools.pairwise(times) if b > a]
        if diffs:
            state.spacing = statistics.median(diffs)
        # Without a known sample spacing an interval cannot be told from a hole: count nothing.
        gap_limit = GAP_FACTOR * state.spacing if state.spacing else None
        previous = state.high_water
        for sample, t in zip(points, times, strict=True):
            for port in sample.ports:
                state.joules.setdefault(port, 0.0)
            if state.high_water is not None and t <= state.high_water:
                previous = t if previous is None else max(previous, t)
                continue
            if previous is not None and t > previous:
                spacing = t - previous
                if gap_limit is not None and spacing <= gap_limit:
                    for port, reading in sample.ports.items():
                        power = reading.active_power_w
                        if power is not None and power > 0:
                            state.joules[port] += power * spacing
            previous = t
        if times:
            last = times[-1]
            state.high_water = last if state.high_water is None else max(state.high_water, last)

    def joules(self, network_id: int, powerstrip_id: int) -> Mapping[str, float]:
        """Counter values by port id (as the string the usage API keys ports by)."""
        state = self._strips.get((network_id, powerstrip_id))
        return dict(state.joules) if state else {}


DEFAULT_LEDGER = EnergyLedger()
"""The process-wide ledger the source uses unless a test passes its own."""
