"""The landing page at `/`: version, each target's health and what it holds (strips, outlets) with
their state, problems first, and links. Every name comes from upstream: redacted, cut and escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from exporter import __version__
from exporter.engine.state import TargetState
from exporter.redaction import redact, redact_cut
from exporter.sources.api import Component
from exporter.web.runbook_page import RUNBOOK_PATH

_LINKS = (
    ("/config", "Configuration (redacted)"),
    (RUNBOOK_PATH, "Runbook (what to do for each alert)"),
    ("/-/healthy", "Health"),
    ("/-/ready", "Readiness"),
)


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


NAME_LIMIT = 100
"""Characters of an upstream name shown; a hostile upstream's megabyte name costs no more."""


def _text(value: str) -> str:
    return escape(redact_cut(value, NAME_LIMIT))


def _order(component: Component) -> tuple[bool, int, str]:
    """Problems first, then by id (numerically where ids are numbers)."""
    numeric = component.id.isdigit()
    return (not component.attention, int(component.id) if numeric and len(component.id) < 20 else 0, component.id)


def _state(component: Component) -> str:
    css = "attention" if component.attention else "state"
    return f'<span class="{css}">{_text(component.state)}</span>'


def _summary(components: Sequence[Component]) -> str:
    """`4 strips, 1 down`: the count per kind and of each state that needs attention."""
    kinds: dict[str, int] = {}
    problems: dict[str, int] = {}
    for component in components:
        kinds[component.kind] = kinds.get(component.kind, 0) + 1
        if component.attention:
            problems[component.state] = problems.get(component.state, 0) + 1
    counts = [f"{n} {_text(kind)}{'' if n == 1 else 's'}" for kind, n in sorted(kinds.items())]
    flagged = [f'<span class="attention">{n} {_text(state)}</span>' for state, n in sorted(problems.items())]
    return ", ".join(counts + flagged)


def _component_row(component: Component) -> str:
    parts = ", ".join(
        f"{_text(part.kind)} {_text(part.id)}{' ' + _text(part.name) if part.name else ''}: {_state(part)}"
        for part in sorted(component.parts, key=_order)
    )
    row_class = ' class="attention-row"' if component.attention else ""
    return (
        f"<tr{row_class}><td>{_text(component.kind)}</td><td>{_text(component.id)}</td>"
        f"<td>{_text(component.name)}</td><td>{_state(component)}</td><td>{parts}</td></tr>"
    )


def _components_section(states: list[TargetState]) -> str:
    sections = []
    for st in states:
        if not st.components:
            continue
        rows = "".join(_component_row(c) for c in sorted(st.components, key=_order))
        opened = " open" if any(c.attention for c in st.components) else ""
        sections.append(
            f"<details{opened}><summary>{escape(st.source)} {escape(st.name)}: {_summary(st.components)}</summary>\n"
            "<table><tr><th>Kind</th><th>ID</th><th>Name</th><th>State</th><th>Parts</th></tr>\n"
            f"{rows}</table></details>\n"
        )
    return "<h2>What each target holds</h2>\n" + "".join(sections) if sections else ""


def _discovery_section(failures: list[tuple[str, str, str]]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f'<tr><td>{escape(source)}</td><td>{escape(group)}</td><td class="down">{escape(redact(error))}</td></tr>'
        for source, group, error in sorted(failures)
    )
    return (
        "<h2>Discovery failing</h2>\n"
        "<table><tr><th>Source</th><th>Group</th><th>Last error</th></tr>\n"
        f"{rows}</table>\n"
    )


def render_landing(
    states: list[TargetState],
    extra_links: tuple[tuple[str, str], ...] = (),
    discovery_failures: list[tuple[str, str, str]] | None = None,
    metrics_path: str = "/metrics",
) -> str:
    states = sorted(states, key=lambda s: (s.source, s.name))
    rows = []
    for st in states:
        status = "up" if st.up else ("pending" if not st.attempted else "down")
        rows.append(
            "<tr>"
            f"<td>{escape(st.source)}</td><td>{escape(st.name)}</td>"
            f'<td class="{status}">{status}{" (stale)" if st.stale else ""}</td>'
            f"<td>{_summary(st.components)}</td>"
            f"<td>{escape(_when(st.last_success))}</td>"
            f"<td>{escape(redact(st.last_error or ''))}</td>"
            "</tr>"
        )
    links = "".join(
        f'<li><a href="{escape(href)}">{escape(text)}</a></li>'
        for href, text in ((metrics_path, "Metrics"), *_LINKS, *extra_links)
    )
    body = "".join(rows) or '<tr><td colspan="6">No targets configured.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>powerstrip-exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.up{{color:#070}}.down{{color:#b00}}
.pending{{color:#888}}.attention{{color:#b00;font-weight:bold}}.attention-row{{background:#fee}}
summary{{cursor:pointer;margin:.5em 0}}</style></head>
<body><h1>powerstrip-exporter</h1><p>Version {escape(__version__)}</p>
<ul>{links}</ul>
{_discovery_section(discovery_failures or [])}<h2>Targets</h2>
<table><tr><th>Source</th><th>Target</th><th>Status</th><th>Holds</th><th>Last success</th><th>Last error</th></tr>
{body}</table>
{_components_section(states)}</body></html>
"""
