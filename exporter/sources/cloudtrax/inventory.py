"""What a network held at its last poll: the strips and their ports that actions may act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.sources.cloudtrax.models import PowerStrip, PowerStripSummary


@dataclass(frozen=True, slots=True)
class NetworkInventory:
    ports: Mapping[int, frozenset[int]]
    """powerstrip_id -> its port ids (CloudTrax `port_id`, 1-based)."""


def network_inventory(strips: Sequence[PowerStripSummary], details: Mapping[int, PowerStrip]) -> NetworkInventory:
    """The strips published in the snapshot (those listed and read) with the ports their details name."""
    return NetworkInventory(
        {
            s.powerstrip_id: frozenset(p.port_id for p in details[s.powerstrip_id].ports)
            for s in strips
            if s.powerstrip_id in details
        }
    )
