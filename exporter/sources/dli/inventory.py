"""What a controller held at its last poll: its outlets and the flags that say whether one may be switched,
and the outlets with their state for the landing page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.sources.api import Component
from exporter.sources.dli.models import OutletStatus


@dataclass(frozen=True, slots=True)
class OutletFlags:
    critical: bool
    """Marked critical on the device (its own UI asks before switching it)."""
    locked: bool
    """Locked on the device: it refuses to switch it."""
    on: bool
    """Switched on (its transient state): cycling an outlet that is off changes nothing."""


@dataclass(frozen=True, slots=True)
class DeviceInventory:
    outlets: Mapping[int, OutletFlags]
    """Outlet index (0-based, as in the API) -> its flags."""
    components: tuple[Component, ...] = ()
    """Each outlet, physically on or off; off while switched on needs attention (no power where it
    should be, as PowerStripDLIOutletPhysicallyOff pages)."""


def _outlet(outlet: OutletStatus) -> Component:
    unpowered = outlet.transient_state and not outlet.physical_state
    return Component("outlet", str(outlet.index), outlet.name, "on" if outlet.physical_state else "off", unpowered)


def device_inventory(outlets: Sequence[OutletStatus]) -> DeviceInventory:
    return DeviceInventory(
        {o.index: OutletFlags(critical=o.critical, locked=o.locked, on=o.transient_state) for o in outlets},
        tuple(_outlet(o) for o in sorted(outlets, key=lambda o: o.index)),
    )
