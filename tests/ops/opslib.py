"""Helpers for the ops tests: the shipped files, Grafana queries, PromQL names, promtool.

Kept free of pytest fixtures so the live end-to-end test can reuse them
(e.g. `dashboard_queries()` and `substitute()` to run every panel query
against a real Prometheus).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
GRAFANA_DIR = REPO / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DOCS_DIR = REPO / "docs"


RUNBOOK_SETTING = "powerstrip_setting:runbook_url:info"
"""The optional recording rule (rules.yml) whose `url` label replaces the exporter's own runbook as the base."""


def runbook_url_template(anchor: str) -> str:
    """Every alert's `runbook_url`: the runbook its exporter serves, unless rules.yml sets another base."""
    return (
        f'{{{{ with query "{RUNBOOK_SETTING}" }}}}{{{{ . | first | label "url" }}}}'
        f"{{{{ else }}}}http://{{{{ $labels.instance }}}}/runbook{{{{ end }}}}#{anchor}"
    )


INSTALL_HINT = (
    "Debian's prometheus and prometheus-alertmanager packages provide promtool and amtool. "
    "Run the project's test command (.ci/run), which installs them, or: "
    "apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager"
)


def find_binary(name: str) -> str | None:
    """The tool from /usr/bin (where Debian puts it), else from PATH."""
    candidate = Path("/usr/bin") / name
    if candidate.is_file():
        return str(candidate)
    return shutil.which(name)


def require_binary(name: str) -> str:
    """Like `find_binary`, but FAILS the test (does not skip it) when the tool is missing."""
    path = find_binary(name)
    if path is None:
        pytest.fail(f"{name} is not installed (looked in /usr/bin and on PATH). {INSTALL_HINT}", pytrace=False)
    return path


def run(cmd: list[str], *, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- alert rules


def alert_rules() -> list[dict[str, Any]]:
    doc = load_yaml(PROMETHEUS_DIR / "alerts.yml")
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    doc = load_yaml(PROMETHEUS_DIR / "rules.yml")
    return [rule for group in doc["groups"] for rule in group["rules"] if "record" in rule]


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_anchors(path: Path) -> set[str]:
    anchors = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)):
            anchors.add(github_anchor(m.group(1)))
    return anchors


# --------------------------------------------------------------------------- dashboards


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; rows themselves too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def content_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in iter_panels(dashboard) if p.get("type") != "row"]


@dataclass(frozen=True)
class GrafanaQuery:
    dashboard: str  # file name
    where: str  # panel title or "variable <name>"
    ref: str  # refId, or the variable name
    expr: str  # PromQL as written in the dashboard, Grafana variables unexpanded
    kind: str  # "panel" or "variable"
    instant: bool = False


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<expr>.+?)\s*,\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$", re.S)


def variable_query(var: dict[str, Any]) -> str | None:
    query = var.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query if isinstance(query, str) else None


def parse_label_values(query: str) -> tuple[str, str]:
    """`label_values(<selector>, <label>)` -> (selector, label)."""
    m = _LABEL_VALUES.match(query)
    if not m:
        raise ValueError(f"not a label_values(<metric selector>, <label>) query: {query!r}")
    return m.group("expr"), m.group("label")


def dashboard_queries(dashboards: dict[str, dict[str, Any]] | None = None) -> list[GrafanaQuery]:
    """Every PromQL expression in every panel target and query variable."""
    dashboards = load_dashboards() if dashboards is None else dashboards
    found: list[GrafanaQuery] = []
    for name, dash in dashboards.items():
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = variable_query(var)
                if query is None:
                    raise ValueError(f"{name}: variable {var.get('name')} has no query")
                selector, _ = parse_label_values(query)
                found.append(GrafanaQuery(name, f"variable {var['name']}", var["name"], selector, "variable"))
        for panel in content_panels(dash):
            for target in panel.get("targets", []):
                found.append(
                    GrafanaQuery(
                        name,
                        panel.get("title", "?"),
                        target.get("refId", "?"),
                        target.get("expr", ""),
                        "panel",
                        bool(target.get("instant")),
                    )
                )
    return found


# Concrete values for Grafana's built-in and our template variables, for
# checking that every query is valid PromQL once Grafana has expanded it.
VARIABLE_VALUES = {
    "__rate_interval": "2m",
    "__interval": "1m",
    "__range": "6h",
    "__range_s": "21600",
    "datasource": "prometheus",
    "job": "powerstrip",
    "instance": "exporter:9795",
    "network": "100",
    "powerstrip": "1",
    "device": "epcr-lab",
    "source": "dli",
    "target": "epcr-lab",
}

_VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Expand Grafana variables the way Grafana would, with `values` (default VARIABLE_VALUES).

    Regex replacement references such as `$1` (label_replace) are left alone.
    Raises KeyError for a variable with no value.
    """
    values = VARIABLE_VALUES if values is None else values

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name.isdigit():
            return m.group(0)
        return values[name]

    return _VAR_REF.sub(repl, expr)


def variables_used(expr: str) -> set[str]:
    return {n for m in _VAR_REF.finditer(expr) if not (n := m.group(1) or m.group(2) or m.group(3)).isdigit()}


# --------------------------------------------------------------------------- PromQL names

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (no functions, keywords, labels or numbers).

    A regular-expression scan, good for the expressions we write; promtool is the
    syntax check. `{__name__=~"..."}` selectors are reported as the pattern.
    """
    names = set()
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names.add(m.group(1))
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\b", " ", text)
    text = _NUMBER.sub(" ", text)
    for m in _IDENT.finditer(text):
        word = m.group(0)
        rest = text[m.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function call
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def selector_labels(expr: str) -> list[tuple[str, str]]:
    """(metric name, label) for every label matcher in a selector with a metric name."""
    text = _STRING.sub(lambda m: m.group(0).replace("{", "(").replace("}", ")"), expr)
    pairs = []
    for sel in _SELECTOR.finditer(text):
        name = sel.group(1)
        if not name or name in {"by", "without", "on", "ignoring", "group_left", "group_right"}:
            continue
        for matcher in _MATCHER.finditer(sel.group(2)):
            pairs.append((name, matcher.group(1)))
    return pairs


def promtool_check_exprs(promtool: str, exprs: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Put each expression in a throwaway recording rule and run `promtool check rules`.

    `exprs` maps a record name (a valid metric name) to the expression.
    """
    doc = {"groups": [{"name": "expression-check", "rules": [{"record": k, "expr": v} for k, v in exprs.items()]}]}
    path = workdir / "expression_check_rules.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000), encoding="utf-8")
    return run([promtool, "check", "rules", str(path)])


def write_fast_rules(dest: Path, for_: str = "1s") -> list[Path]:
    """Copies of rules.yml and alerts.yml with every alert's `for` set to `for_`.

    For live tests that scrape every second and cannot wait minutes for an alert.
    Expressions, labels and annotations stay as shipped. Returns the written paths.
    """
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("rules.yml", "alerts.yml"):
        doc = load_yaml(PROMETHEUS_DIR / name)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = for_
        path = dest / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000, allow_unicode=True), encoding="utf-8")
        written.append(path)
    return written
