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
    # Each family's column once, its `add` bound: the loop below adds tens of thousands of samples a poll.
    (
        info,
        up_,
        status,
        pairing,
        surge,
        checkin_,
        boot,
        port_count,
        enabled_ports,
        active,
        power,
        sub_active,
        sub_end,
        end_of_life,
        port_info,
        port_enabled,
        port_power,
        reactive,
        port_energy,
    ) = (
        b.column(spec).add
        for spec in (
            m.POWERSTRIP_INFO,
            m.POWERSTRIP_UP,
            m.POWERSTRIP_CLOUD_STATUS,
            m.POWERSTRIP_NEED_PAIRING,
            m.POWERSTRIP_SURGE_PROTECTION,
            m.POWERSTRIP_LAST_CHECKIN,
            m.POWERSTRIP_BOOT_TIME,
            m.POWERSTRIP_PORTS,
            m.POWERSTRIP_ENABLED_PORTS,
            m.POWERSTRIP_ACTIVE_PORTS,
            m.POWERSTRIP_POWER,
            m.POWERSTRIP_SUBSCRIPTION_ACTIVE,
            m.POWERSTRIP_SUBSCRIPTION_END,
            m.POWERSTRIP_END_OF_LIFE,
            m.PORT_INFO,
            m.PORT_ENABLED,
            m.PORT_POWER,
            m.PORT_REACTIVE_POWER,
            m.PORT_ENERGY,
        )
    )
    voltage, frequency, current, apparent, power_factor = (
        b.column(spec).add_within
        for spec in (
            m.POWERSTRIP_VOLTAGE,
            m.POWERSTRIP_FREQUENCY,
            m.PORT_CURRENT,
            m.PORT_APPARENT_POWER,
            m.PORT_POWER_FACTOR,
        )
    )
    nid = str(network_id)
    for strip in strips:
        sid = str(strip.powerstrip_id)
        detail = details.get(strip.powerstrip_id)
        lbl = (nid, sid)
        firmware_version = _first(strip.firmware_version, detail.firmware_version if detail else None) or ""
        info((nid, sid, strip.mac, strip.name, strip.model, firmware_version, strip.role), 1)
        up = strip.is_up
        up_(lbl, up)
        status((nid, sid, cloud_status_label(strip.cloud_status)), 1)
        pairing(lbl, _first(strip.need_pairing, detail and detail.need_pairing))
        surge(lbl, _first(strip.surge_protection_active, detail and detail.surge_protection_active))
        if up:  # a down strip reports 0 V and 0 Hz: not readings, so no samples
            voltage(lbl, _first(strip.voltage_v, detail and detail.voltage_v), minimum=0)
            frequency(lbl, _first(strip.frequency_hz, detail and detail.frequency_hz), minimum=0)
        checkin = _first(strip.last_checkin, detail and detail.last_checkin)
        checkin_(lbl, _ts(checkin))
        uptime = _first(strip.uptime_seconds, detail and detail.uptime_seconds)
        if up and checkin is not None and uptime is not None:
            boot(lbl, checkin.timestamp() - uptime)
        # One sample per port id even if a response repeats a port (duplicate series break scrapes).
        ports = list({p.port_id: p for p in detail.ports}.values()) if detail else []
        port_count(lbl, _first(strip.port_count, len(ports) if ports else None))
        enabled = sum(1 for p in ports if p.enable) if ports else None
        enabled_ports(lbl, _first(strip.enabled_ports, enabled))
        active(lbl, _first(strip.active_ports, detail and detail.active_ports))
        if up and detail is not None:
            power(lbl, sum(p.active_power_w or 0.0 for p in ports))
        subscription = strip.subscription or (detail.subscription if detail else None)
        if subscription is not None:
            sub_active(lbl, subscription.is_active)
            sub_end(lbl, _ts(subscription.end_date))
        lifecycle = strip.lifecycle or (detail.lifecycle if detail else None)
        if lifecycle is not None:
            end_of_life(lbl, _ts(lifecycle.end_of_life))

        for port in ports:
            port_id = str(port.port_id)
            plbl = (nid, sid, port_id)
            port_info((nid, sid, port_id, port.label, port.connection_check_name or ""), 1)
            port_enabled(plbl, port.enable)
            if not up:
                continue  # the zeros of a down strip are not readings
            current(plbl, port.current_a, minimum=0)
            port_power(plbl, port.active_power_w)
            apparent(plbl, port.apparent_power_va, minimum=0)
            reactive(plbl, port.reactive_power_var)
            power_factor(plbl, port.power_factor, minimum=-1, maximum=1)
        for port_id, joules in sorted(energy.get(strip.powerstrip_id, {}).items()):
            port_energy((nid, sid, port_id), joules)

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
