"""Metric names the exporter exposes, as docs/metrics.md lists them (core, CloudTrax, DLI, actions).

The dashboards and alert rules may use these names and nothing else (plus
Prometheus' own `up` and our `powerstrip_threshold:*` recording rules in alerts).
"""

from __future__ import annotations

SELF_METRICS = {
    "powerstrip_exporter_build_info",
    "powerstrip_exporter_target_up",
    "powerstrip_exporter_target_last_success_timestamp_seconds",
    "powerstrip_exporter_target_poll_duration_seconds",
    "powerstrip_exporter_target_polls_total",
    "powerstrip_exporter_target_poll_failures_total",
    "powerstrip_exporter_target_interval_seconds",
    "powerstrip_exporter_config_last_reload_successful",
    "powerstrip_exporter_config_last_reload_success_timestamp_seconds",
    "powerstrip_exporter_actions_total",
    "powerstrip_exporter_action_failures_total",
    "powerstrip_exporter_shard_info",
    "powerstrip_exporter_discovery_up",
    "powerstrip_exporter_discovery_failures_total",
    "powerstrip_exporter_remediations_total",
    "powerstrip_exporter_remediation_breaker_open",
    "powerstrip_exporter_target_values_refused_total",
    "powerstrip_exporter_state_write_failures_total",
    "powerstrip_exporter_state_last_write_successful",
}

SELF_HISTOGRAMS = {"powerstrip_exporter_api_request_duration_seconds"}

PROCESS_METRICS = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
}

CLOUDTRAX_METRICS = {
    "cloudtrax_powerstrip_info",
    "cloudtrax_powerstrip_up",
    "cloudtrax_powerstrip_cloud_status_info",
    "cloudtrax_powerstrip_need_pairing",
    "cloudtrax_powerstrip_surge_protection_active",
    "cloudtrax_powerstrip_voltage_volts",
    "cloudtrax_powerstrip_frequency_hertz",
    "cloudtrax_powerstrip_last_checkin_timestamp_seconds",
    "cloudtrax_powerstrip_boot_time_seconds",
    "cloudtrax_powerstrip_ports",
    "cloudtrax_powerstrip_enabled_ports",
    "cloudtrax_powerstrip_active_ports",
    "cloudtrax_powerstrip_power_watts",
    "cloudtrax_powerstrip_subscription_active",
    "cloudtrax_powerstrip_subscription_end_timestamp_seconds",
    "cloudtrax_powerstrip_end_of_life_timestamp_seconds",
    "cloudtrax_powerstrip_port_info",
    "cloudtrax_powerstrip_port_enabled",
    "cloudtrax_powerstrip_port_current_amperes",
    "cloudtrax_powerstrip_port_power_watts",
    "cloudtrax_powerstrip_port_apparent_power_voltamperes",
    "cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive",
    "cloudtrax_powerstrip_port_power_factor_ratio",
    "cloudtrax_powerstrip_port_energy_joules_total",
    "cloudtrax_network_powerstrip_settings_info",
    "cloudtrax_network_powerstrip_power_switch_enabled",
    "cloudtrax_network_powerstrip_mesh_enabled",
    "cloudtrax_network_powerstrip_auto_upgrade_enabled",
    "cloudtrax_network_powerstrip_firmware_info",
    "cloudtrax_network_energy_samples_rejected_total",
}

DLI_METRICS = {
    "dli_device_info",
    "dli_outlet_info",
    "dli_outlet_state",
    "dli_outlet_transient_state",
    "dli_outlet_physical_state",
    "dli_outlet_locked",
    "dli_outlet_critical",
    "dli_script_threads",
    "dli_bus_voltage_volts",
    "dli_bus_current_amperes",
    "dli_bus_energy_joules_total",
    "dli_bus_power_watts",
    "dli_temperature_celsius",
    "dli_humidity_ratio",
    "dli_voltage_volts",
    "dli_meter_value",
    "dli_meter_info",
}

# Families, as a dashboard must cover them (histograms by their base name).
FAMILIES = SELF_METRICS | SELF_HISTOGRAMS | PROCESS_METRICS | CLOUDTRAX_METRICS | DLI_METRICS

# Series names a query may select.
KNOWN_SERIES = (
    SELF_METRICS
    | PROCESS_METRICS
    | CLOUDTRAX_METRICS
    | DLI_METRICS
    | {f"{h}{suffix}" for h in SELF_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)

# Labels of each family (besides job and instance added by Prometheus).
LABELS: dict[str, set[str]] = {
    "powerstrip_exporter_build_info": {"version", "revision", "branch", "build_date", "python_version"},
    "powerstrip_exporter_shard_info": {"index", "count"},
    "powerstrip_exporter_config_last_reload_successful": set(),
    "powerstrip_exporter_config_last_reload_success_timestamp_seconds": set(),
    "powerstrip_exporter_target_poll_failures_total": {"source", "target", "reason"},
    "powerstrip_exporter_api_request_duration_seconds": {"source", "endpoint"},
    "powerstrip_exporter_actions_total": {"source", "action"},
    "powerstrip_exporter_action_failures_total": {"source", "action", "reason"},
    "powerstrip_exporter_discovery_up": {"source", "group"},
    "powerstrip_exporter_discovery_failures_total": {"source", "group", "reason"},
    "cloudtrax_powerstrip_cloud_status_info": {"network_id", "powerstrip_id", "status"},
    "powerstrip_exporter_remediations_total": {"rule", "result"},
    "powerstrip_exporter_remediation_breaker_open": {"rule"},
    "cloudtrax_powerstrip_info": {"network_id", "powerstrip_id", "mac", "name", "model", "firmware_version", "role"},
    "cloudtrax_powerstrip_port_info": {"network_id", "powerstrip_id", "port", "label", "connection_check"},
    "cloudtrax_network_powerstrip_settings_info": {"network_id", "firmware_tag"},
    "cloudtrax_network_powerstrip_firmware_info": {"network_id", "tag_id", "tag", "build"},
    "cloudtrax_network_energy_samples_rejected_total": {"network_id", "reason"},
    "dli_device_info": {"device", "serial", "firmware_version", "relay_firmware_version", "model", "hostname"},
    "dli_outlet_info": {"device", "outlet", "name"},
    "dli_script_threads": {"device"},
    "dli_temperature_celsius": {"device", "sensor"},
    "dli_humidity_ratio": {"device", "sensor"},
    "dli_voltage_volts": {"device", "meter"},
    "dli_meter_value": {"device", "meter", "quantity"},
    "dli_meter_info": {"device", "meter", "name", "quantity"},
}
for _name in PROCESS_METRICS:
    LABELS[_name] = set()
for _name in SELF_METRICS:
    LABELS.setdefault(_name, {"source", "target"})
for _name in CLOUDTRAX_METRICS:
    if _name.startswith("cloudtrax_powerstrip_port_"):
        LABELS.setdefault(_name, {"network_id", "powerstrip_id", "port"})
    elif _name.startswith("cloudtrax_network_"):
        LABELS.setdefault(_name, {"network_id"})
    else:
        LABELS.setdefault(_name, {"network_id", "powerstrip_id"})
for _name in DLI_METRICS:
    if _name.startswith("dli_outlet_"):
        LABELS.setdefault(_name, {"device", "outlet"})
    elif _name.startswith("dli_bus_"):
        LABELS.setdefault(_name, {"device", "bus"})


def family_of(series: str) -> str:
    for hist in SELF_HISTOGRAMS:
        if series in (f"{hist}_bucket", f"{hist}_sum", f"{hist}_count"):
            return hist
    return series
