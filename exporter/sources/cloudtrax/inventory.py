"""What a network held at its last poll: the strips and their ports that actions may act on, and
the same strips with their state for the landing page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from operator import itemgetter

from exporter.sources.api import Component, LazyComponents
from exporter.sources.cloudtrax.collector import cloud_status_label
from exporter.sources.cloudtrax.models import PowerStrip, PowerStripSummary

_PortRow = tuple[int, str, bool | None]
"""port_id, label, enable"""
_StripRow = tuple[int, str, str, tuple[_PortRow, ...]]
"""powerstrip_id, name, cloud status, its ports by port id"""


class NetworkInventory:
    """Kept as plain rows, read at every poll; the mappings actions and the landing page read are
    made from them when first asked for (most polls are never asked)."""

    def __init__(self, rows: tuple[_StripRow, ...]) -> None:
        self._rows = rows
        self.components = LazyComponents(partial(_components, rows))
        """Each strip with its cloud status ("down" needs attention) and its ports switched on or off."""

    @cached_property
    def ports(self) -> Mapping[int, frozenset[int]]:
        """powerstrip_id -> its port ids (CloudTrax `port_id`, 1-based)."""
        return {strip_id: frozenset(port[0] for port in ports) for strip_id, _, _, ports in self._rows}


def _components(rows: tuple[_StripRow, ...]) -> tuple[Component, ...]:
    return tuple(
        Component(
            "strip",
            str(strip_id),
            name,
            status,
            attention=status != "up",
            parts=tuple(Component("port", str(port_id), label, _state(enable)) for port_id, label, enable in ports),
        )
        for strip_id, name, status, ports in rows
    )


def _state(enable: bool | None) -> str:
    return "unknown" if enable is None else ("on" if enable else "off")


def network_inventory(strips: Sequence[PowerStripSummary], details: Mapping[int, PowerStrip]) -> NetworkInventory:
    """The strips published in the snapshot (those listed and read) with the ports their details name."""
    return NetworkInventory(
        tuple(
            (
                s.powerstrip_id,
                s.name,
                cloud_status_label(s.cloud_status),
                tuple(
                    sorted(((p.port_id, p.label, p.enable) for p in details[s.powerstrip_id].ports), key=itemgetter(0))
                ),
            )
            for s in strips
            if s.powerstrip_id in details
        )
    )
