"""Structure of the committed Grafana dashboards, their PromQL, and the generator."""

from __future__ import annotations

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
