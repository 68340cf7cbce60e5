"""The mains supply a simulated fleet runs on, so a fleet can be simulated in any country.

Both simulators take one: CloudTrax strips read their voltage and frequency from it, DLI buses their
voltage. The readings wobble around the nominal as the healthy simulated devices always did.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mains:
    """A nominal supply: voltage and frequency."""

    volts: float
    hertz: float


NORTH_AMERICA = Mains(120.0, 60.0)
"""120 V / 60 Hz, the simulators' default."""

MAINS: dict[str, Mains] = {"120": NORTH_AMERICA, "230": Mains(230.0, 50.0)}
"""The `--mains` choices of `powerstrip-exporter simulate`: 230 V / 50 Hz is most of the world's."""
