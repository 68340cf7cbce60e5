"""Every metric the CloudTrax source emits. Names are a fixed API (docs/sources/cloudtrax.md); labels carry
CloudTrax's own ids unchanged (`port` is the API's `port_id`, counted from 1).
"""

from __future__ import annotations

from exporter.metrics.spec import MetricSpec

STRIP = ("network_id", "powerstrip_id")
PORT = (*STRIP, "port")
NETWORK = ("network_id",)

# -- strip -------------------------------------------------------------------

POWERSTRIP_INFO = MetricSpec(
    "cloudtrax_powerstrip_info",
    "Power strip identity from the network's strip list; always 1.",
    "gauge",
    (*STRIP, "mac", "name", "model", "firmware_version", "role"),
)
POWERSTRIP_UP = MetricSpec(
    "cloudtrax_powerstrip_up",
    'Whether CloudTrax reports the strip as connected (cloud_status "up" = 1).',
    "gauge",
    STRIP,
)
CLOUD_STATUSES = ("up", "down", "unknown", "pairing")
"""The `cloud_status` values CloudTrax documents (strips show up and down; switches also unknown and pairing)."""
POWERSTRIP_CLOUD_STATUS = MetricSpec(
    "cloudtrax_powerstrip_cloud_status_info",
    "The strip's cloud_status: up, down, unknown, pairing, or other for anything else; always 1.",
    "gauge",
    (*STRIP, "status"),
)
POWERSTRIP_NEED_PAIRING = MetricSpec(
    "cloudtrax_powerstrip_need_pairing",
    "1 if CloudTrax says the strip needs pairing.",
    "gauge",
    STRIP,
)
POWERSTRIP_SURGE_PROTECTION = MetricSpec(
    "cloudtrax_powerstrip_surge_protection_active",
    "1 if the strip's surge protection is active.",
    "gauge",
    STRIP,
)
POWERSTRIP_VOLTAGE = MetricSpec(
    "cloudtrax_powerstrip_voltage_volts",
    "Mains voltage measured by the strip; absent while the strip is down (it reports 0 then).",
    "gauge",
    STRIP,
)
POWERSTRIP_FREQUENCY = MetricSpec(
    "cloudtrax_powerstrip_frequency_hertz",
    "Mains frequency measured by the strip; absent while the strip is down (it reports 0 then).",
    "gauge",
    STRIP,
)
POWERSTRIP_LAST_CHECKIN = MetricSpec(
    "cloudtrax_powerstrip_last_checkin_timestamp_seconds",
    "Unix time of the strip's last check-in with CloudTrax; absent if it never checked in.",
    "gauge",
    STRIP,
)
POWERSTRIP_BOOT_TIME = MetricSpec(
    "cloudtrax_powerstrip_boot_time_seconds",
    "Unix time the strip booted: last check-in minus reported uptime; only while the strip is up.",
    "gauge",
    STRIP,
)
POWERSTRIP_PORTS = MetricSpec(
    "cloudtrax_powerstrip_ports",
    "Number of ports on the strip.",
    "gauge",
    STRIP,
)
POWERSTRIP_ENABLED_PORTS = MetricSpec(
    "cloudtrax_powerstrip_enabled_ports",
    "Number of ports switched on (enabled) on the strip.",
    "gauge",
    STRIP,
)
POWERSTRIP_ACTIVE_PORTS = MetricSpec(
    "cloudtrax_powerstrip_active_ports",
    "Number of ports CloudTrax reports as active (drawing power).",
    "gauge",
    STRIP,
)
POWERSTRIP_POWER = MetricSpec(
    "cloudtrax_powerstrip_power_watts",
    "Active power of the whole strip: the sum of its ports' active power (derived; the API has no strip total).",
    "gauge",
    STRIP,
)
POWERSTRIP_SUBSCRIPTION_ACTIVE = MetricSpec(
    "cloudtrax_powerstrip_subscription_active",
    "1 if the strip's Datto subscription is active; absent when CloudTrax has no subscription data.",
    "gauge",
    STRIP,
)
POWERSTRIP_SUBSCRIPTION_END = MetricSpec(
    "cloudtrax_powerstrip_subscription_end_timestamp_seconds",
    "Unix time the strip's subscription ends; absent for evergreen or unknown subscriptions.",
    "gauge",
    STRIP,
)
POWERSTRIP_END_OF_LIFE = MetricSpec(
    "cloudtrax_powerstrip_end_of_life_timestamp_seconds",
    "Unix time the strip model reaches end of life; absent when CloudTrax gives no date.",
    "gauge",
    STRIP,
)

# -- port --------------------------------------------------------------------

PORT_INFO = MetricSpec(
    "cloudtrax_powerstrip_port_info",
    "Port label and connection-check list name (empty if none); always 1.",
    "gauge",
    (*PORT, "label", "connection_check"),
)
PORT_ENABLED = MetricSpec(
    "cloudtrax_powerstrip_port_enabled",
    "1 if the port is switched on (enabled).",
    "gauge",
    PORT,
)
PORT_CURRENT = MetricSpec(
    "cloudtrax_powerstrip_port_current_amperes",
    "Current drawn through the port.",
    "gauge",
    PORT,
)
PORT_POWER = MetricSpec(
    "cloudtrax_powerstrip_port_power_watts",
    "Active (real) power drawn through the port.",
    "gauge",
    PORT,
)
PORT_APPARENT_POWER = MetricSpec(
    "cloudtrax_powerstrip_port_apparent_power_voltamperes",
    "Apparent power drawn through the port.",
    "gauge",
    PORT,
)
PORT_REACTIVE_POWER = MetricSpec(
    "cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive",
    "Reactive power drawn through the port.",
    "gauge",
    PORT,
)
PORT_POWER_FACTOR = MetricSpec(
    "cloudtrax_powerstrip_port_power_factor_ratio",
    "Power factor of the port's load (0-1).",
    "gauge",
    PORT,
)
PORT_ENERGY = MetricSpec(
    "cloudtrax_powerstrip_port_energy_joules_total",
    "Energy through the port, derived by the exporter from the usage history: each power sample times "
    "the time since the sample before it, each sample counted once. Starts at 0 with the first read "
    "(history from before the start is not counted); continues across restarts with --storage.path. "
    "CloudTrax itself has no energy counter.",
    "counter",
    PORT,
)

# -- network -----------------------------------------------------------------

NETWORK_SETTINGS_INFO = MetricSpec(
    "cloudtrax_network_powerstrip_settings_info",
    "The network's power-strip firmware tag setting; always 1.",
    "gauge",
    (*NETWORK, "firmware_tag"),
)
NETWORK_POWER_SWITCH_ENABLED = MetricSpec(
    "cloudtrax_network_powerstrip_power_switch_enabled",
    "1 if the power switches on this network's strips are enabled.",
    "gauge",
    NETWORK,
)
NETWORK_MESH_ENABLED = MetricSpec(
    "cloudtrax_network_powerstrip_mesh_enabled",
    "1 if this network's strips mesh.",
    "gauge",
    NETWORK,
)
NETWORK_AUTO_UPGRADE_ENABLED = MetricSpec(
    "cloudtrax_network_powerstrip_auto_upgrade_enabled",
    "1 if this network's strips upgrade their firmware automatically (enable_upgrade).",
    "gauge",
    NETWORK,
)
NETWORK_FIRMWARE_INFO = MetricSpec(
    "cloudtrax_network_powerstrip_firmware_info",
    "A firmware version allowed for this network's strips; always 1.",
    "gauge",
    (*NETWORK, "tag_id", "tag", "build"),
)

NETWORK_ENERGY_SAMPLES_REJECTED = MetricSpec(
    "cloudtrax_network_energy_samples_rejected_total",
    "Usage readings of this network's strips the energy counter refused, by reason: future_time, null, "
    "not_finite, negative, too_large, unknown_port.",
    "counter",
    (*NETWORK, "reason"),
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    POWERSTRIP_INFO,
    POWERSTRIP_UP,
    POWERSTRIP_CLOUD_STATUS,
    POWERSTRIP_NEED_PAIRING,
    POWERSTRIP_SURGE_PROTECTION,
    POWERSTRIP_VOLTAGE,
    POWERSTRIP_FREQUENCY,
    POWERSTRIP_LAST_CHECKIN,
    POWERSTRIP_BOOT_TIME,
    POWERSTRIP_PORTS,
    POWERSTRIP_ENABLED_PORTS,
    POWERSTRIP_ACTIVE_PORTS,
    POWERSTRIP_POWER,
    POWERSTRIP_SUBSCRIPTION_ACTIVE,
    POWERSTRIP_SUBSCRIPTION_END,
    POWERSTRIP_END_OF_LIFE,
    PORT_INFO,
    PORT_ENABLED,
    PORT_CURRENT,
    PORT_POWER,
    PORT_APPARENT_POWER,
    PORT_REACTIVE_POWER,
    PORT_POWER_FACTOR,
    PORT_ENERGY,
    NETWORK_SETTINGS_INFO,
    NETWORK_POWER_SWITCH_ENABLED,
    NETWORK_MESH_ENABLED,
    NETWORK_AUTO_UPGRADE_ENABLED,
    NETWORK_FIRMWARE_INFO,
    NETWORK_ENERGY_SAMPLES_REJECTED,
)
