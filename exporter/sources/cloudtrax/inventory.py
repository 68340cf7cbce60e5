"""What a network held at its last poll: the strips and their ports that actions may act on, and
the same strips with their state for the landing page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.sources.api import Component
from exporter.sources.cloudtrax.collector import cloud_status_label
from exporter.sources.cloudtrax.models import Port, PowerStrip, PowerStripSummary


@dataclass(frozen=True, slots=True)
class NetworkInventory:
    ports: Mapping[int, frozenset[int]]
    """powerstrip_id -> its port ids (CloudTrax `port_id`, 1-based)."""
    components: tuple[Component, ...] = ()
    """Each strip with its cloud status ("down" needs attention) and its ports switched on or off."""


def _port(port: Port) -> Component:
    state = "unknown" if port.enable is None else ("on" if port.enable else "off")
    return Component("port", str(port.port_id), port.label, state)


def _strip(strip: PowerStripSummary, detail: PowerStrip) -> Component:
    status = cloud_status_label(strip.cloud_status)
    ports = tuple(_port(p) for p in sorted(detail.ports, key=lambda p: p.port_id))
    return Component("strip", str(strip.powerstrip_id), strip.name, status, attention=status != "up", parts=ports)


def network_inventory(strips: Sequence[PowerStripSummary], details: Mapping[int, PowerStrip]) -> NetworkInventory:
    """The strips published in the snapshot (those listed and read) with the ports their details name."""
    kept = [s for s in strips if s.powerstrip_id in details]
    return NetworkInventory(
        {s.powerstrip_id: frozenset(p.port_id for p in details[s.powerstrip_id].ports) for s in kept},
        tuple(_strip(s, details[s.powerstrip_id]) for s in kept),
    )
