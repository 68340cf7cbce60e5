"""The samples one poll of a network turns into. Pure: no I/O, so tests feed it payloads directly.

The calls themselves are made by `NetworkTarget` (source.py). Strip-level values come from
the list (the documented source of port counts); port readings from the get. A reading no strip
can have (a negative voltage, frequency, current or apparent power, a power factor beyond ±1) is
refused as `implausible_value`, not exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from exporter.metrics.spec import SampleSet, SampleSetBuilder
from exporter.sources.cloudtrax import metrics as m
from exporter.sources.cloudtrax.models import FirmwareVersion, NetworkSettings, PowerStrip, PowerStripSummary


def _ts(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def _first(*values: Any) -> Any:
    """The first value that is known (not None and not an empty string)."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def cloud_status_label(status: str) -> str:
    """The `status` label: CloudTrax's documented values as they are, anything else as `other`,
    so a vendor surprise cannot make unbounded label values."""
    value = status.strip().lower()
    return value if value in m.CLOUD_STATUSES else "other"


def build_samples(
    network_id: int,
    strips: Sequence[PowerStripSummary],
    details: Mapping[int, PowerStrip],
    energy: Mapping[int, Mapping[str, float]],
    settings: NetworkSettings | None,
    firmware: Sequence[FirmwareVersion] | None,
    energy_rejected: Mapping[str, int] | None = None,
) -> SampleSet:
    """Turn one cycle's API data into samples. Pure, so tests can feed it payloads directly."""
    b = SampleSetBuilder()
    nid = str(network_id)
    for strip in strips:
        sid = str(strip.powerstrip_id)
        detail = details.get(strip.powerstrip_id)
        lbl = (nid, sid)
        b.add(
            m.POWERSTRIP_INFO,
            1,
            *lbl,
            strip.mac,
            strip.name,
            strip.model,
            _first(strip.firmware_version, detail.firmware_version if detail else None) or "",
            strip.role,
        )
        up = strip.is_up
        b.add(m.POWERSTRIP_UP, up, *lbl)
        b.add(m.POWERSTRIP_CLOUD_STATUS, 1, *lbl, cloud_status_label(strip.cloud_status))
        b.add(m.POWERSTRIP_NEED_PAIRING, _first(strip.need_pairing, detail and detail.need_pairing), *lbl)
        b.add(
            m.POWERSTRIP_SURGE_PROTECTION,
            _first(strip.surge_protection_active, detail and detail.surge_protection_active),
            *lbl,
        )
        if up:  # a down strip reports 0 V and 0 Hz: not readings, so no samples
            b.add_within(m.POWERSTRIP_VOLTAGE, _first(strip.voltage_v, detail and detail.voltage_v), *lbl, minimum=0)
            b.add_within(
                m.POWERSTRIP_FREQUENCY, _first(strip.frequency_hz, detail and detail.frequency_hz), *lbl, minimum=0
            )
        checkin = _first(strip.last_checkin, detail and detail.last_checkin)
        b.add(m.POWERSTRIP_LAST_CHECKIN, _ts(checkin), *lbl)
        uptime = _first(strip.uptime_seconds, detail and detail.uptime_seconds)
        if up and checkin is not None and uptime is not None:
            b.add(m.POWERSTRIP_BOOT_TIME, checkin.timestamp() - uptime, *lbl)
        # One sample per port id even if a response repeats a port (duplicate series break scrapes).
        ports = list({p.port_id: p for p in detail.ports}.values()) if detail else []
        b.add(m.POWERSTRIP_PORTS, _first(strip.port_count, len(ports) if ports else None), *lbl)
        enabled = sum(1 for p in ports if p.enable) if ports else None
        b.add(m.POWERSTRIP_ENABLED_PORTS, _first(strip.enabled_ports, enabled), *lbl)
        b.add(m.POWERSTRIP_ACTIVE_PORTS, _first(strip.active_ports, detail and detail.active_ports), *lbl)
        if up and detail is not None:
            b.add(m.POWERSTRIP_POWER, sum(p.active_power_w or 0.0 for p in ports), *lbl)
        subscription = strip.subscription or (detail.subscription if detail else None)
        if subscription is not None:
            b.add(m.POWERSTRIP_SUBSCRIPTION_ACTIVE, subscription.is_active, *lbl)
            b.add(m.POWERSTRIP_SUBSCRIPTION_END, _ts(subscription.end_date), *lbl)
        lifecycle = strip.lifecycle or (detail.lifecycle if detail else None)
        if lifecycle is not None:
            b.add(m.POWERSTRIP_END_OF_LIFE, _ts(lifecycle.end_of_life), *lbl)

        for port in ports:
            plbl = (*lbl, str(port.port_id))
            b.add(m.PORT_INFO, 1, *plbl, port.label, port.connection_check_name or "")
            b.add(m.PORT_ENABLED, port.enable, *plbl)
            if not up:
                continue  # the zeros of a down strip are not readings
            b.add_within(m.PORT_CURRENT, port.current_a, *plbl, minimum=0)
            b.add(m.PORT_POWER, port.active_power_w, *plbl)
            b.add_within(m.PORT_APPARENT_POWER, port.apparent_power_va, *plbl, minimum=0)
            b.add(m.PORT_REACTIVE_POWER, port.reactive_power_var, *plbl)
            b.add_within(m.PORT_POWER_FACTOR, port.power_factor, *plbl, minimum=-1, maximum=1)
        for port_id, joules in sorted(energy.get(strip.powerstrip_id, {}).items()):
            b.add(m.PORT_ENERGY, joules, *lbl, port_id)

    if settings is not None:
        b.add(m.NETWORK_SETTINGS_INFO, 1, nid, settings.firmware_tag or "")
        b.add(m.NETWORK_POWER_SWITCH_ENABLED, settings.enable_power_switch, nid)
        b.add(m.NETWORK_MESH_ENABLED, settings.enable_mesh, nid)
        b.add(m.NETWORK_AUTO_UPGRADE_ENABLED, settings.enable_upgrade, nid)
    for version in firmware or ():
        b.add(m.NETWORK_FIRMWARE_INFO, 1, nid, version.tag_id, version.tag, version.build)
    for reason, count in sorted((energy_rejected or {}).items()):
        b.add(m.NETWORK_ENERGY_SAMPLES_REJECTED, count, nid, reason)
    return b.build()
