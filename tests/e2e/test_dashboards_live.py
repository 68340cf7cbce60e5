"""Every Grafana dashboard query, run against the live Prometheus scraping the live exporter.

Template variables are resolved the way Grafana resolves them: each
`label_values(<selector>, <label>)` variable is asked of Prometheus
(`/api/v1/label/<label>/values` with `match[]`), with the variables it depends
on already expanded, and its answers become the values of the panels' queries.
Multi-value variables get every value (Grafana's `(a|b)` regex form);
single-value variables (one strip, one DLI controller) are tried with every
value they offer. Instant panel queries go through `/api/v1/query`, time series
through `/api/v1/query_range`.

Each query must evaluate without error or warning, and each panel query must
return a number (not only NaN) for at least one value of the single-value
variables, unless it is listed in ALLOWED_EMPTY.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e import live
from tests.e2e.live import Stack
from tests.ops import opslib

ALLOWED_EMPTY: dict[tuple[str, str, str], str] = {
    # (dashboard file, panel title, refId): why the demo fleet cannot fill it.
    ("powerstrip-dli.json", "Other meters", "A"): (
        "dli_meter_value only carries meters of a quantity the exporter does not convert; every meter of the "
        "demo models (bus voltage, current and energy, temperatures, battery voltage, humidity) is converted "
        "to its own metric"
    ),
}
"""Panel queries allowed to return no data here. Keep this short and justified."""

# Grafana's built-in variables, as Grafana would set them for a one-hour dashboard
# on a Prometheus data source with the default 15 s scrape interval setting.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1s",
    "__range": "1h",
    "__range_s": "3600",
    "datasource": "prometheus",
}

_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


def grafana_regex_value(values: list[str]) -> str:
    """Grafana's Prometheus interpolation of a multi-value variable (prometheusSpecialRegexEscape)."""
    escaped = [_SPECIAL.sub(lambda m: "\\\\" + m.group(0), v.replace("\\", "\\\\\\\\")) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def grafana_plain_value(value: str) -> str:
    """Grafana's interpolation of a single-value variable (prometheusRegularEscape)."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


@dataclass
class Run:
    """One expanded query and what Prometheus answered."""

    dashboard: str
    where: str
    ref: str
    api: str
    expr: str
    selection: str
    series: int = 0
    numbers: int = 0
    error: str = ""


@dataclass
class DashboardRuns:
    variables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """dashboard -> variable -> values Prometheus offered (union over parent selections)."""
    runs: list[Run] = field(default_factory=list)


def _is_number(value: Any) -> bool:
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _selections(
    stack: Stack, dash_name: str, variables: list[dict[str, Any]], result: DashboardRuns
) -> Iterator[dict[str, str]]:
    """Every combination of single-value variable values, with multi-value ones set to all their values."""

    def resolve(index: int, chosen: dict[str, str], label: str) -> Iterator[dict[str, str]]:
        if index == len(variables):
            yield chosen
            return
        var = variables[index]
        if var.get("type") != "query":
            yield from resolve(index + 1, chosen, label)
            return
        selector, label_name = opslib.parse_label_values(opslib.variable_query(var) or "")
        expanded = opslib.substitute(selector, {**BUILTINS, **chosen})
        run = Run(dash_name, f"variable {var['name']}", var["name"], "label_values", expanded, label or "-")
        try:
            values = stack.prometheus.label_values(label_name, expanded)
        except live.PromQLError as err:
            run.error = str(err)
            values = []
        run.series = run.numbers = len(values)
        result.runs.append(run)
        known = result.variables.setdefault(dash_name, {}).setdefault(var["name"], [])
        known.extend(v for v in values if v not in known)
        if not values:
            return  # reported by the test: a variable with no values
        if var.get("multi") or var.get("includeAll"):
            yield from resolve(index + 1, {**chosen, var["name"]: grafana_regex_value(values)}, label)
        else:
            for value in values:
                name = f"{label} {var['name']}={value}".strip()
                yield from resolve(index + 1, {**chosen, var["name"]: grafana_plain_value(value)}, name)

    yield from resolve(0, {}, "")


def _run_panels(stack: Stack, dashboard: dict[str, Any], name: str, result: DashboardRuns, window: float) -> None:
    variables = dashboard.get("templating", {}).get("list", [])
    queries = [q for q in opslib.dashboard_queries({name: dashboard}) if q.kind == "panel"]
    for chosen in list(_selections(stack, name, variables, result)):
        picked = " ".join(f"{k}={v}" for k, v in chosen.items() if k not in {"job", "instance"})
        for query in queries:
            expr = opslib.substitute(query.expr, {**BUILTINS, **chosen})
            run = Run(name, query.where, query.ref, "query" if query.instant else "query_range", expr, picked or "-")
            try:
                if query.instant:
                    samples = stack.prometheus.query(expr)
                    run.numbers = sum(_is_number(s["value"][1]) for s in samples)
                else:
                    samples = stack.prometheus.query_range(expr, window)
                    run.numbers = sum(any(_is_number(v) for _, v in s["values"]) for s in samples)
                run.series = len(samples)
            except live.PromQLError as err:
                run.error = str(err)
            result.runs.append(run)


def _summary(result: DashboardRuns) -> list[str]:
    """One line per dashboard query: how many selections it ran with, how many gave data."""
    templates = {(q.dashboard, q.where, q.ref): q for q in opslib.dashboard_queries()}
    grouped: dict[tuple[str, str, str], list[Run]] = {}
    for r in result.runs:
        grouped.setdefault((r.dashboard, r.where, r.ref), []).append(r)
    lines = []
    for key, runs in grouped.items():
        errors = sum(bool(r.error) for r in runs)
        with_data = sum(r.numbers > 0 for r in runs)
        status = "ERROR" if errors else "ok" if with_data else "EMPTY"
        expr = " ".join(templates[key].expr.split()) if key in templates else runs[0].expr
        lines.append(
            f"{status:5} {key[0]} | {key[1]} | {key[2]} | {runs[0].api} | "
            f"data for {with_data} of {len(runs)} selections | {expr}"
        )
    return lines


@pytest.fixture(scope="module")
def dashboard_runs(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> DashboardRuns:
    result = DashboardRuns()
    window = max(10.0, min(300.0, time.time() - stack.started_at))
    for name, dashboard in opslib.load_dashboards().items():
        _run_panels(stack, dashboard, name, result, window)
    lines = [
        f"{'ERROR' if r.error else 'ok' if r.numbers else 'EMPTY':5} {r.dashboard} | {r.where} | {r.ref} | "
        f"{r.api} | {r.selection} | {r.series} series, {r.numbers} with numbers | {r.expr}"
        + (f" | {r.error}" if r.error else "")
        for r in result.runs
    ]
    path = tmp_path_factory.getbasetemp() / "e2e-dashboard-queries.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    live.QUERY_LOG.append(f"{len(result.runs)} expanded queries run, each listed in {path}; per dashboard query:")
    live.QUERY_LOG.extend(_summary(result))
    return result


def test_every_dashboard_query_evaluates(dashboard_runs: DashboardRuns) -> None:
    errors = [f"{r.dashboard}: {r.where} {r.ref} [{r.selection}]: {r.error}" for r in dashboard_runs.runs if r.error]
    assert not errors, "\n".join(errors)
    expected = {(q.dashboard, q.where, q.ref) for q in opslib.dashboard_queries()}
    ran = {(r.dashboard, r.where, r.ref) for r in dashboard_runs.runs}
    assert expected <= ran, f"never ran: {sorted(expected - ran)}"


def test_every_panel_returns_data_from_the_demo_fleet(dashboard_runs: DashboardRuns) -> None:
    best = {(q.dashboard, q.where, q.ref): 0 for q in opslib.dashboard_queries() if q.kind == "panel"}
    for r in dashboard_runs.runs:
        if not r.where.startswith("variable "):
            key = (r.dashboard, r.where, r.ref)
            best[key] = max(best[key], r.numbers)
    empty = sorted(key for key, n in best.items() if n == 0 and key not in ALLOWED_EMPTY)
    assert not empty, "panel queries with no data for any selection:\n" + "\n".join(map(str, empty))
    stale_allowances = sorted(key for key in ALLOWED_EMPTY if best.get(key, 0) > 0)
    assert not stale_allowances, f"ALLOWED_EMPTY entries that now return data (remove them): {stale_allowances}"


def test_template_variables_offer_the_live_fleet(stack: Stack, dashboard_runs: DashboardRuns) -> None:
    networks = sorted(str(n) for n in stack.loop.call(lambda: list(stack.cloudtrax.state.networks)))
    strips = sorted(str(s) for s in stack.loop.call(lambda: list(stack.cloudtrax.state.strips)))
    devices = sorted(stack.dli)
    targets = sorted(t for _, t in stack.expected_targets())
    expected: dict[str, list[str]] = {
        "job": [stack.job],
        "instance": [stack.instance],
        "network": networks,
        "powerstrip": strips,
        "device": devices,
        "source": ["cloudtrax", "dli"],
        "target": targets,
    }
    assert set(dashboard_runs.variables) == set(opslib.load_dashboards())
    for dashboard, variables in dashboard_runs.variables.items():
        for name, values in variables.items():
            assert name in expected, f"{dashboard}: no expectation for variable ${name}"
            assert sorted(values) == expected[name], f"{dashboard}: ${name}"
