"""Evaluate every dashboard and alert query with Prometheus' engine on a synthetic fleet.

`promtool test rules` (promql_expr_test) runs the queries offline against
tests/ops/synthetic.py: the metric contract of docs/metrics.md, as seen by two
exporters polling the same devices. This finds empty panels, legends and table
columns that name labels a query does not return, and joins that break with
many-to-many errors when several exporters are selected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.ops import opslib, synthetic
from tests.support.lanes import starts_processes

# One exporter selected; then all of them (Grafana's "All" is ".+" in these dashboards).
SELECTIONS = {
    "one-exporter": {**opslib.VARIABLE_VALUES, "job": "powerstrip", "instance": "exporter:9795"},
    "all-exporters": {**opslib.VARIABLE_VALUES, "job": ".+", "instance": ".+"},
}


@pytest.fixture(scope="module", params=sorted(SELECTIONS))
@starts_processes
def evaluated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], dict[str, synthetic.Result]]:
    values = SELECTIONS[request.param]
    queries = opslib.dashboard_queries()
    exprs = sorted({opslib.substitute(q.expr, values) for q in queries})
    results = synthetic.evaluate(
        opslib.require_binary("promtool"), exprs, tmp_path_factory.mktemp(f"eval-{request.param}")
    )
    return values, results


def test_every_query_returns_data(evaluated: tuple[dict[str, str], dict[str, synthetic.Result]]) -> None:
    values, results = evaluated
    problems = []
    for query in opslib.dashboard_queries():
        result = results[opslib.substitute(query.expr, values)]
        if result.error:
            problems.append(f"{query.dashboard}: {query.where} {query.ref}: {result.error}")
        elif not result.samples:
            problems.append(f"{query.dashboard}: {query.where} {query.ref}: no data")
    assert not problems, "\n".join(problems)


def test_legends_name_labels_the_query_returns(evaluated: tuple[dict[str, str], dict[str, synthetic.Result]]) -> None:
    values, results = evaluated
    checked = 0
    for name, dash in opslib.load_dashboards().items():
        for panel in opslib.content_panels(dash):
            for target in panel["targets"]:
                wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
                for sample in results[opslib.substitute(target["expr"], values)].samples:
                    missing = wanted - set(sample)
                    assert not missing, f"{name}: {panel['title']} legend uses {missing}, result has {sorted(sample)}"
                    checked += 1
    assert checked > 50


IDENTITY_LABELS = {"network_id", "powerstrip_id", "port", "device", "outlet", "source", "target", "instance", "meter"}


def _table_columns(panel: dict[str, Any]) -> list[str]:
    for transformation in panel.get("transformations", []):
        if transformation["id"] == "filterFieldsByName":
            return [n for n in transformation["options"]["include"]["names"] if not n.startswith("Value #")]
    return []


def test_table_columns_exist_in_the_results(evaluated: tuple[dict[str, str], dict[str, synthetic.Result]]) -> None:
    values, results = evaluated
    tables = 0
    for name, dash in opslib.load_dashboards().items():
        for panel in opslib.content_panels(dash):
            if panel["type"] != "table":
                continue
            tables += 1
            columns = _table_columns(panel)
            assert columns, f"{name}: {panel['title']} selects no label columns"
            # Merged tables take their label columns from the first query. Identity labels must be on
            # every row; descriptive ones (an empty label value is no label) on at least one.
            first = panel["targets"][0]
            samples = results[opslib.substitute(first["expr"], values)].samples
            keys = set(columns) & IDENTITY_LABELS
            for sample in samples:
                assert keys <= set(sample), f"{name}: {panel['title']} rows lack {keys - set(sample)}"
            seen = set().union(*samples) if samples else set()
            assert set(columns) <= seen, f"{name}: {panel['title']} columns {set(columns) - seen} never returned"
            # every merged query carries the identity labels, so its rows line up with the first query's
            for target in panel["targets"][1:]:
                for sample in results[opslib.substitute(target["expr"], values)].samples:
                    assert keys <= set(sample), f"{name}: {panel['title']} {target['refId']} lacks {keys - set(sample)}"
    assert tables >= 8


def test_variables_return_their_label(evaluated: tuple[dict[str, str], dict[str, synthetic.Result]]) -> None:
    values, results = evaluated
    for name, dash in opslib.load_dashboards().items():
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            selector, label = opslib.parse_label_values(opslib.variable_query(var) or "")
            samples = results[opslib.substitute(selector, values)].samples
            assert samples and all(label in s for s in samples), f"{name}: ${var['name']}"


def test_alert_expressions_evaluate_without_errors(promtool: str, tmp_path: Path) -> None:
    """Alert joins hold up when two exporters poll the same devices (no many-to-many errors)."""
    exprs = [rule["expr"] for rule in opslib.alert_rules()]
    results = synthetic.evaluate(promtool, exprs, tmp_path)
    errors = {e: r.error for e, r in results.items() if r.error}
    assert not errors
    # the synthetic fleet has a strip down, one needing pairing, and an outlet off while switched on
    fired = {r["alert"] for r in opslib.alert_rules() if results[r["expr"]].samples}
    assert {"PowerStripCloudDown", "PowerStripNeedsPairing", "PowerStripDLIOutletPhysicallyOff"} <= fired
    cloud_down = next(r for r in opslib.alert_rules() if r["alert"] == "PowerStripCloudDown")
    assert {s["instance"] for s in results[cloud_down["expr"]].samples} == set(synthetic.INSTANCES)


def test_evaluation_reports_empty_results_and_errors(promtool: str, tmp_path: Path) -> None:
    """The evaluation can fail: a wrong label gives no data, a join without instance errors."""
    wrong_label = 'cloudtrax_powerstrip_up{device="epcr-lab"}'
    bad_join = "cloudtrax_powerstrip_up * on(network_id, powerstrip_id) group_left(name) cloudtrax_powerstrip_info"
    good = 'cloudtrax_powerstrip_up{instance="exporter:9795",powerstrip_id="2"}'
    results = synthetic.evaluate(promtool, [wrong_label, bad_join, good], tmp_path)
    assert results[wrong_label].samples == [] and results[wrong_label].error is None
    assert "many-to-many" in (results[bad_join].error or "")
    assert results[good].samples == [
        {
            "__name__": "cloudtrax_powerstrip_up",
            "instance": "exporter:9795",
            "job": "powerstrip",
            "network_id": "100",
            "powerstrip_id": "2",
        }
    ]
