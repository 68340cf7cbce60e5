"""A small synthetic fleet in promtool's input-series notation, and offline query evaluation.

Every metric family of the exporter's contract (docs/metrics.md) appears with its
labels, so that each dashboard query can be evaluated by Prometheus' own
engine (`promtool test rules` with `promql_expr_test`) without a server:
results show whether a query returns data, and which labels it carries.
The live end-to-end test does the same against a real exporter later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.ops import opslib

JOB = {"job": "powerstrip"}
# Two exporters (an HA pair) poll the same devices: joins that forget to match
# on instance fail with many-to-many errors when all instances are selected.
INSTANCES = ("exporter:9795", "exporter-b:9795")
SAMPLES = 40  # one a minute
EVAL_TIME = "30m"

NETWORK = "100"
STRIPS = {"1": "up", "2": "down", "3": "pairing"}
PORTS = ("1", "2", "3")
DEVICE = "epcr-lab"
OUTLETS = ("0", "1", "2")
BUSES = ("0", "1")
POLL_REASONS = ("timeout", "connection", "http_status", "auth", "rate_limited", "bad_response", "sample_limit")
ACTION_REASONS = ("unauthenticated", "forbidden", "not_found", "invalid", "cooldown", "upstream", "timeout")


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in {**JOB, **labels}.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def fleet() -> list[dict[str, str]]:
    """The same fleet as seen by each exporter instance."""
    series = []
    for instance in INSTANCES:
        for entry in _one_exporter():
            name, _, rest = entry["series"].partition("{")
            series.append({"series": f'{name}{{instance="{instance}",{rest}', "values": entry["values"]})
    return series


def const(value: float) -> str:
    return f"{value:g}x{SAMPLES}"


def counter(step: float) -> str:
    return f"0+{step:g}x{SAMPLES}"


def _one_exporter() -> list[dict[str, str]]:
    s: list[dict[str, str]] = []
    add = s.append
    # --- exporter self-metrics
    build = {"version": "0.1.0", "revision": "unknown", "branch": "unknown", "build_date": "unknown"}
    add(_series("powerstrip_exporter_build_info", {**build, "python_version": "3.11.7"}, const(1)))
    add(_series("powerstrip_exporter_shard_info", {"index": "0", "count": "1"}, const(1)))
    add(_series("powerstrip_exporter_config_last_reload_successful", {}, const(1)))
    add(_series("powerstrip_exporter_config_last_reload_success_timestamp_seconds", {}, const(60)))
    add(_series("process_cpu_seconds_total", {}, counter(0.5)))
    add(_series("process_resident_memory_bytes", {}, const(60e6)))
    add(_series("process_virtual_memory_bytes", {}, const(300e6)))
    add(_series("process_open_fds", {}, const(25)))
    add(_series("process_max_fds", {}, const(1024)))
    add(_series("process_start_time_seconds", {}, const(0)))
    for source, target in (("cloudtrax", NETWORK), ("dli", DEVICE)):
        t = {"source": source, "target": target}
        add(_series("powerstrip_exporter_target_up", t, const(1)))
        add(_series("powerstrip_exporter_target_last_success_timestamp_seconds", t, counter(60)))
        add(_series("powerstrip_exporter_target_poll_duration_seconds", t, const(0.25)))
        add(_series("powerstrip_exporter_target_polls_total", t, counter(1)))
        add(_series("powerstrip_exporter_target_interval_seconds", t, const(60)))
        for reason in POLL_REASONS:
            add(_series("powerstrip_exporter_target_poll_failures_total", {**t, "reason": reason}, const(0)))
        add(_series("powerstrip_exporter_target_values_refused_total", {**t, "reason": "implausible_value"}, const(0)))
    add(_series("powerstrip_exporter_state_last_write_successful", {"kind": "cloudtrax-energy"}, const(1)))
    add(_series("powerstrip_exporter_state_write_failures_total", {"kind": "cloudtrax-energy"}, const(0)))
    discovering = {"source": "cloudtrax", "group": "office"}
    add(_series("powerstrip_exporter_discovery_up", discovering, const(1)))
    for reason in POLL_REASONS:
        add(_series("powerstrip_exporter_discovery_failures_total", {**discovering, "reason": reason}, const(0)))
    for source, endpoint in (("cloudtrax", "GET /powerstrip/{id}"), ("dli", "GET /restapi/relay/outlets/")):
        e = {"source": source, "endpoint": endpoint}
        for le, step in (("0.1", 1), ("0.5", 2), ("1", 2), ("+Inf", 2)):
            add(_series("powerstrip_exporter_api_request_duration_seconds_bucket", {**e, "le": le}, counter(step)))
        add(_series("powerstrip_exporter_api_request_duration_seconds_sum", e, counter(0.3)))
        add(_series("powerstrip_exporter_api_request_duration_seconds_count", e, counter(2)))
    for source, action in (("cloudtrax", "reboot"), ("cloudtrax", "port_reset"), ("dli", "cycle"), ("dli", "reboot")):
        a = {"source": source, "action": action}
        add(_series("powerstrip_exporter_actions_total", a, counter(0.1)))
        for reason in ACTION_REASONS:
            add(_series("powerstrip_exporter_action_failures_total", {**a, "reason": reason}, const(0)))
    add(_series("powerstrip_exporter_remediation_breaker_open", {"rule": "cycle-host"}, const(0)))
    add(_series("powerstrip_exporter_remediations_total", {"rule": "cycle-host", "result": "acted"}, counter(0.1)))
    add(_series("powerstrip_exporter_remediations_total", {"rule": "cycle-host", "result": "recovered"}, counter(0.1)))
    # --- CloudTrax: one network, a strip that is up and one that is down
    net = {"network_id": NETWORK}
    add(_series("cloudtrax_network_powerstrip_settings_info", {**net, "firmware_tag": "stable"}, const(1)))
    add(_series("cloudtrax_network_powerstrip_power_switch_enabled", net, const(1)))
    add(_series("cloudtrax_network_powerstrip_mesh_enabled", net, const(1)))
    add(_series("cloudtrax_network_powerstrip_auto_upgrade_enabled", net, const(0)))
    for reason, step in (
        ("future_time", 0),
        ("null", 0.1),
        ("not_finite", 0),
        ("negative", 0),
        ("too_large", 0),
        ("unknown_port", 0),
    ):
        add(_series("cloudtrax_network_energy_samples_rejected_total", {**net, "reason": reason}, counter(step)))
    add(
        _series(
            "cloudtrax_network_powerstrip_firmware_info",
            {**net, "tag_id": "7", "tag": "stable", "build": "6.4.6"},
            const(1),
        )
    )
    for strip, state in STRIPS.items():
        up = state == "up"
        st = {**net, "powerstrip_id": strip}
        info = {"mac": f"ac:86:74:00:00:0{strip}", "name": f"Rack {strip}", "model": "P60"}
        add(
            _series(
                "cloudtrax_powerstrip_info", {**st, **info, "firmware_version": "6.4.6", "role": "repeater"}, const(1)
            )
        )
        add(_series("cloudtrax_powerstrip_up", st, const(1 if up else 0)))
        add(_series("cloudtrax_powerstrip_cloud_status_info", {**st, "status": state}, const(1)))
        add(_series("cloudtrax_powerstrip_need_pairing", st, const(1 if state == "pairing" else 0)))
        add(_series("cloudtrax_powerstrip_surge_protection_active", st, const(1 if up else 0)))
        if up:  # a down strip's zeros are not exported
            add(_series("cloudtrax_powerstrip_voltage_volts", st, const(120)))
            add(_series("cloudtrax_powerstrip_frequency_hertz", st, const(60)))
            add(_series("cloudtrax_powerstrip_power_watts", st, const(150)))
        add(_series("cloudtrax_powerstrip_last_checkin_timestamp_seconds", st, counter(60) if up else const(30)))
        add(_series("cloudtrax_powerstrip_boot_time_seconds", st, const(0)))
        add(_series("cloudtrax_powerstrip_ports", st, const(len(PORTS))))
        add(_series("cloudtrax_powerstrip_enabled_ports", st, const(len(PORTS))))
        add(_series("cloudtrax_powerstrip_active_ports", st, const(2 if up else 0)))
        add(_series("cloudtrax_powerstrip_subscription_active", st, const(1)))
        add(_series("cloudtrax_powerstrip_subscription_end_timestamp_seconds", st, const(5_000_000)))
        add(_series("cloudtrax_powerstrip_end_of_life_timestamp_seconds", st, const(2_000_000_000)))
        for port in PORTS:
            p = {**st, "port": port}
            add(
                _series(
                    "cloudtrax_powerstrip_port_info",
                    {**p, "label": f"Device {port}", "connection_check": "router" if port == "1" else ""},
                    const(1),
                )
            )
            add(_series("cloudtrax_powerstrip_port_enabled", p, const(1)))
            if up:
                add(_series("cloudtrax_powerstrip_port_current_amperes", p, const(0.5)))
                add(_series("cloudtrax_powerstrip_port_power_watts", p, const(50)))
                add(_series("cloudtrax_powerstrip_port_apparent_power_voltamperes", p, const(60)))
                add(_series("cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive", p, const(10)))
                add(_series("cloudtrax_powerstrip_port_power_factor_ratio", p, const(0.83)))
            add(_series("cloudtrax_powerstrip_port_energy_joules_total", p, counter(3000 if up else 0)))
    # --- DLI: one EPCR with two buses, a temperature and humidity sensor, three outlets
    dev = {"device": DEVICE}
    add(
        _series(
            "dli_device_info",
            {
                **dev,
                "serial": "EPCR6-0001",
                "firmware_version": "1.9.1",
                "relay_firmware_version": "1.2",
                "model": "EPCR6",
                "hostname": "epcr-lab",
            },
            const(1),
        )
    )
    add(_series("dli_script_threads", dev, const(1)))
    for outlet in OUTLETS:
        o = {**dev, "outlet": outlet}
        add(_series("dli_outlet_info", {**o, "name": f"Outlet {int(outlet) + 1}"}, const(1)))
        add(_series("dli_outlet_state", o, const(1)))
        add(_series("dli_outlet_transient_state", o, const(1)))
        add(_series("dli_outlet_physical_state", o, const(0 if outlet == "2" else 1)))
        add(_series("dli_outlet_locked", o, const(0)))
        add(_series("dli_outlet_critical", o, const(0)))
    for bus in BUSES:
        b = {**dev, "bus": bus}
        add(_series("dli_bus_voltage_volts", b, const(120)))
        add(_series("dli_bus_current_amperes", b, const(1.5)))
        add(_series("dli_bus_power_watts", b, const(180)))
        add(_series("dli_bus_energy_joules_total", b, counter(10800)))
    add(_series("dli_temperature_celsius", {**dev, "sensor": "0"}, const(35)))
    add(_series("dli_humidity_ratio", {**dev, "sensor": "0"}, const(0.4)))
    add(_series("dli_voltage_volts", {**dev, "meter": "battery"}, const(3.1)))
    add(_series("dli_meter_value", {**dev, "meter": "ac_frequency", "quantity": "frequency"}, const(60)))
    for meter, name, quantity in (("bus.0.voltage", "Bus 0 voltage", "voltage"), ("battery", "Battery", "voltage")):
        add(_series("dli_meter_info", {**dev, "meter": meter, "name": name, "quantity": quantity}, const(1)))
    return s


@dataclass
class Result:
    expr: str
    samples: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None


_EXPR_LINE = re.compile(r'^\s*expr: "((?:[^"\\]|\\.)*)", time: [^,]+,\s*(?:err: (.*))?$')
_SAMPLE = re.compile(r"\{([^{}]*)\} [-+0-9.eE]+|NaN|[-+]Inf")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def evaluate(promtool: str, exprs: list[str], workdir: Path) -> dict[str, Result]:
    """Evaluate each expression at EVAL_TIME over fleet(); expression -> result labels."""
    doc = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": fleet(),
                "promql_expr_test": [{"expr": e, "eval_time": EVAL_TIME, "exp_samples": []} for e in exprs],
            }
        ],
    }
    path = workdir / "synthetic_eval_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000), encoding="utf-8")
    out = opslib.run([promtool, "test", "rules", path.name], cwd=workdir, timeout=300)
    results = {e: Result(e) for e in exprs}
    lines = (out.stdout + out.stderr).splitlines()
    for i, line in enumerate(lines):
        m = _EXPR_LINE.match(line)
        if not m:
            continue
        expr = json.loads(f'"{m.group(1)}"')
        result = results.setdefault(expr, Result(expr))
        if m.group(2):
            result.error = m.group(2)
            continue
        got = next((ln for ln in lines[i + 1 : i + 4] if ln.strip().startswith("got:")), "")
        for sample in _SAMPLE.finditer(got):
            if sample.group(1) is not None:
                result.samples.append(dict(_LABEL.findall(sample.group(1))))
    return results
