"""Structure of the committed Grafana dashboards, their PromQL, and the generator."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.ops import opslib
from tests.ops.metric_names import FAMILIES, KNOWN_SERIES, LABELS, family_of

DS_REF = {"type": "prometheus", "uid": "${datasource}"}

EXPECTED = {
    "powerstrip-fleet-overview.json": "powerstrip-fleet",
    "powerstrip-cloudtrax.json": "powerstrip-cloudtrax",
    "powerstrip-dli.json": "powerstrip-dli",
    "powerstrip-exporter-health.json": "powerstrip-exporter",
}

# Device variables, each from label_values() on an _info metric (or target_up for the exporter's own targets).
DEVICE_VARIABLES = {
    "powerstrip-fleet-overview.json": {"network": "cloudtrax_powerstrip_info", "device": "dli_device_info"},
    "powerstrip-cloudtrax.json": {"network": "cloudtrax_powerstrip_info", "powerstrip": "cloudtrax_powerstrip_info"},
    "powerstrip-dli.json": {"device": "dli_device_info"},
    "powerstrip-exporter-health.json": {
        "source": "powerstrip_exporter_target_up",
        "target": "powerstrip_exporter_target_up",
    },
}

# Grafana unit ids the dashboards may use.
GRAFANA_UNITS = {
    "volt",
    "amp",
    "watt",
    "voltamp",
    "voltampreact",
    "joule",
    "hertz",
    "celsius",
    "percentunit",
    "percent",
    "s",
    "dateTimeAsIso",
    "short",
    "none",
    "bool_on_off",
    "reqps",
    "bytes",
    "opm",
}


def test_the_four_dashboards(dashboards: dict[str, dict[str, Any]]) -> None:
    assert set(dashboards) == set(EXPECTED)
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    for name, dash in dashboards.items():
        assert dash["uid"] == EXPECTED[name]
        assert dash["title"].startswith("Power strips: ")
        assert "powerstrip" in dash["tags"]
        assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 39


def test_datasource_is_a_variable_not_an_input(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        assert "__inputs" not in dash and "__requires" not in dash, name
        assert "DS_PROMETHEUS" not in json.dumps(dash), name
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        ds = variables["datasource"]
        assert ds["type"] == "datasource" and ds["query"] == "prometheus", name
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                assert var["datasource"] == DS_REF, f"{name}: variable {var['name']}"


def test_job_instance_and_device_variables(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        order = [v["name"] for v in dash["templating"]["list"]]
        assert order[:3] == ["datasource", "job", "instance"], name
        assert opslib.parse_label_values(opslib.variable_query(variables["job"]) or "") == (
            "powerstrip_exporter_build_info",
            "job",
        )
        assert opslib.parse_label_values(opslib.variable_query(variables["instance"]) or "")[1] == "instance"
        for var_name, metric in DEVICE_VARIABLES[name].items():
            selector, label = opslib.parse_label_values(opslib.variable_query(variables[var_name]) or "")
            assert opslib.metric_names(selector) == {metric}, f"{name}: ${var_name}"
            assert label in LABELS[metric], f"{name}: ${var_name} reads label {label}"
            assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, f"{name}: ${var_name}"
        assert set(order) == {"datasource", "job", "instance", *DEVICE_VARIABLES[name]}, name


def test_every_panel_has_description_unit_and_datasource(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        panels = opslib.content_panels(dash)
        assert len(panels) >= 8, name
        titles = [p["title"] for p in panels]
        assert len(titles) == len(set(titles)), f"{name}: duplicate panel titles"
        for panel in panels:
            where = f"{name}: {panel.get('title')!r}"
            assert panel.get("description", "").strip(), f"{where} has no description"
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
            assert unit in GRAFANA_UNITS, f"{where} has unit {unit!r}"
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                for prop in override["properties"]:
                    if prop["id"] == "unit":
                        assert prop["value"] in GRAFANA_UNITS, where
            assert panel.get("datasource") == DS_REF, where
            assert panel.get("targets"), f"{where} has no query"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), where
            for target in panel["targets"]:
                assert target.get("datasource") == DS_REF, f"{where} {target.get('refId')}"
                assert target.get("expr", "").strip(), where


def test_units_match_what_is_measured(dashboards: dict[str, dict[str, Any]]) -> None:
    """A panel that shows a single physical quantity carries that quantity's unit."""
    suffix_units = {
        "_volts": "volt",
        "_amperes": "amp",
        "_watts": "watt",
        "_joules_total": "joule",
        "_celsius": "celsius",
        "_hertz": "hertz",
        "_ratio": None,  # power factor: a plain number; humidity: percentunit
        "_voltamperes": "voltamp",
        "_voltamperes_reactive": "voltampreact",
    }
    checked = 0
    for name, dash in dashboards.items():
        for panel in opslib.content_panels(dash):
            if panel["type"] == "table":
                continue
            names: set[str] = set()
            for target in panel["targets"]:
                names |= {n for n in opslib.metric_names(target["expr"]) if not n.endswith("_info")}
            suffixes = {s for n in names for s in suffix_units if n.endswith(s)}
            # longest match wins (…_voltamperes_reactive ends with neither _volts nor _voltamperes)
            suffixes = {s for s in suffixes if not any(o != s and o.endswith(s) for o in suffixes)}
            if len(suffixes) == 1 and (unit := suffix_units[next(iter(suffixes))]):
                expected = unit
                if "dli_bus_current_amperes" in names and "dli_bus_voltage_volts" in names:
                    continue
                assert panel["fieldConfig"]["defaults"]["unit"] == expected, f"{name}: {panel['title']}"
                checked += 1
    assert checked >= 15


def _units(panel: dict[str, Any]) -> set[str]:
    config = panel.get("fieldConfig", {})
    units = {config.get("defaults", {}).get("unit")}
    for override in config.get("overrides", []):
        units |= {prop["value"] for prop in override["properties"] if prop["id"] == "unit"}
    return units


def apparent_power_under_watts(dashboards: dict[str, dict[str, Any]]) -> list[str]:
    """Queries of panels with a watt unit that compute apparent power: volts x amperes, or a VA metric."""
    found = []
    for name, dash in dashboards.items():
        for panel in opslib.content_panels(dash):
            if "watt" not in _units(panel):
                continue
            for target in panel["targets"]:
                names = opslib.metric_names(target["expr"])
                volts_times_amps = any(n.endswith("_volts") for n in names) and any(
                    n.endswith("_amperes") for n in names
                )
                if volts_times_amps or any(n.endswith("_voltamperes") for n in names):
                    found.append(f"{name}: {panel['title']} {target['refId']}: {target['expr']}")
    return found


def test_no_watt_panel_shows_apparent_power(dashboards: dict[str, dict[str, Any]]) -> None:
    """Volts x amperes is apparent power (VA): never under a watt unit, never added to real watts."""
    assert apparent_power_under_watts(dashboards) == []


def test_the_apparent_power_check_can_fail(dashboards: dict[str, dict[str, Any]]) -> None:
    doctored = copy.deepcopy(dashboards)
    panel = next(p for p in opslib.content_panels(doctored["powerstrip-dli.json"]) if p["title"] == "Bus power")
    panel["targets"][0]["expr"] = "dli_bus_voltage_volts * on(job, instance, device, bus) dli_bus_current_amperes"
    assert len(apparent_power_under_watts(doctored)) == 1


def test_dli_power_is_real_power_and_apparent_power_is_va(dashboards: dict[str, dict[str, Any]]) -> None:
    """DLI watts come from the bus power meter or the energy counter's rate; volts x amperes only as VA."""
    dli_watt_panels = 0
    va_panels = 0
    for dash in dashboards.values():
        for panel in opslib.content_panels(dash):
            exprs = [t["expr"] for t in panel["targets"]]
            names = set().union(*(opslib.metric_names(e) for e in exprs))
            if "watt" in _units(panel) and names & {"dli_bus_power_watts", "dli_bus_energy_joules_total"}:
                dli_watt_panels += 1
                for expr in exprs:
                    assert "dli_bus_power_watts" in expr, panel["title"]
                    assert re.search(r"rate\(dli_bus_energy_joules_total\{[^}]*\}\[\$__rate_interval\]\)", expr), panel[
                        "title"
                    ]
            if {"dli_bus_voltage_volts", "dli_bus_current_amperes"} <= names and len(exprs) == 1 and "*" in exprs[0]:
                assert _units(panel) == {"voltamp"}, panel["title"]
                va_panels += 1
    # Bus power and Total power (DLI dashboard), Power per DLI controller and Total power (fleet overview).
    assert dli_watt_panels == 4
    assert va_panels == 1


def test_layout_ids_and_grid(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        panels = list(opslib.iter_panels(dash))
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids), name
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, f"{name}: {panel.get('title')}"
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{name}: {panel.get('title')} overlaps another panel"
                    cells.add((x, y))


def test_queries_use_only_known_metrics_and_labels(dashboards: dict[str, dict[str, Any]]) -> None:
    queries = opslib.dashboard_queries(dashboards)
    assert len(queries) > 100
    for query in queries:
        where = f"{query.dashboard}: {query.where} {query.ref}"
        names = opslib.metric_names(query.expr)
        assert names, f"{where}: selects no metric"
        assert names <= KNOWN_SERIES, f"{where}: unknown metrics {names - KNOWN_SERIES}"
        for metric, label in opslib.selector_labels(query.expr):
            allowed = (
                LABELS[family_of(metric)] | {"job", "instance"} | ({"le"} if metric.endswith("_bucket") else set())
            )
            assert label in allowed, f"{where}: {metric} has no label {label}"
        # every selector is scoped to the chosen exporters
        for selector in re.finditer(r"([a-z_:]+)\{([^}]*)\}", query.expr):
            if query.where == "variable job":
                continue
            assert 'job=~"$job"' in selector.group(2), f"{where}: {selector.group(0)}"
            if query.where != "variable instance":
                assert 'instance=~"$instance"' in selector.group(2), f"{where}: {selector.group(0)}"


def test_every_metric_family_is_on_a_dashboard(dashboards: dict[str, dict[str, Any]]) -> None:
    shown = {family_of(n) for q in opslib.dashboard_queries(dashboards) for n in opslib.metric_names(q.expr)}
    assert FAMILIES - shown == set()


def test_every_variable_used_is_defined(dashboards: dict[str, dict[str, Any]]) -> None:
    builtin = {"__rate_interval", "__interval", "__range", "__range_s"}
    for name, dash in dashboards.items():
        defined = {v["name"] for v in dash["templating"]["list"]} | builtin
        for query in opslib.dashboard_queries({name: dash}):
            used = opslib.variables_used(query.expr)
            assert used <= defined, f"{name}: {query.where} uses {used - defined}"
            assert set(opslib.VARIABLE_VALUES) >= used


def test_every_expression_is_valid_promql(promtool: str, dashboards: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    exprs = {}
    for i, query in enumerate(opslib.dashboard_queries(dashboards)):
        expanded = opslib.substitute(query.expr)
        assert not re.search(r"\$(?!\d)", expanded), f"{query.where}: unexpanded variable in {expanded}"
        stem = query.dashboard.removesuffix(".json").replace("-", "_")
        exprs[f"dashboard_check:{stem}:q{i}"] = expanded
    result = opslib.promtool_check_exprs(promtool, exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_expression_check_rejects_bad_promql(promtool: str, tmp_path: Path) -> None:
    """The PromQL check can fail."""
    bad = opslib.substitute('sum by (device (dli_bus_power_watts{job=~"$job"})')
    result = opslib.promtool_check_exprs(promtool, {"dashboard_check:bad": bad}, tmp_path)
    assert result.returncode != 0


def test_metric_name_scanner() -> None:
    expr = (
        'sum by (job, instance) (increase(powerstrip_exporter_action_failures_total{reason=~"a|b"}[15m])) > 10'
        ' or label_replace(dli_device_info{device="x"}, "d", "$1", "device", "(.*)")'
        " * on(job, instance) group_left(name) cloudtrax_powerstrip_info offset 5m + 1e-6 * vector(1)"
    )
    assert opslib.metric_names(expr) == {
        "powerstrip_exporter_action_failures_total",
        "dli_device_info",
        "cloudtrax_powerstrip_info",
    }
    assert opslib.selector_labels(expr) == [
        ("powerstrip_exporter_action_failures_total", "reason"),
        ("dli_device_info", "device"),
    ]
    assert opslib.substitute('x{a=~"$job"}[$__rate_interval] "$1" ${instance}') == (
        'x{a=~"powerstrip"}[2m] "$1" exporter:9795'
    )


# --------------------------------------------------------------------------- generator


def _load_generator() -> Any:
    pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk is a dev-only dependency")
    spec = importlib.util.spec_from_file_location("grafana_generate", opslib.GRAFANA_DIR / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_json_equals_generator_output() -> None:
    generator = _load_generator()
    rendered = generator.render()
    assert set(rendered) == set(EXPECTED)
    for filename, text in rendered.items():
        committed = (opslib.DASHBOARD_DIR / filename).read_text(encoding="utf-8")
        assert committed == text, f"{filename} is out of date: run python grafana/generate.py"


def test_generator_check_mode_detects_drift(tmp_path: Path) -> None:
    generator = _load_generator()
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    victim = tmp_path / "powerstrip-dli.json"
    victim.write_text(victim.read_text().replace('"Bus voltage"', '"Bus voltages"'))
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1
