"""The landing page at `/`: version, each target's health, and links."""

from __future__ import annotations

import datetime as dt
from html import escape

from exporter import __version__
from exporter.engine.state import TargetState
from exporter.redaction import redact

_LINKS = (
    ("/config", "Configuration (redacted)"),
    ("/-/healthy", "Health"),
    ("/-/ready", "Readiness"),
)


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
    rows = []
    for st in sorted(states, key=lambda s: (s.source, s.name)):
        status = "up" if st.up else ("pending" if not st.attempted else "down")
        rows.append(
            "<tr>"
            f"<td>{escape(st.source)}</td><td>{escape(st.name)}</td>"
            f'<td class="{status}">{status}{" (stale)" if st.stale else ""}</td>'
            f"<td>{escape(_when(st.last_success))}</td>"
            f"<td>{escape(redact(st.last_error or ''))}</td>"
            "</tr>"
        )
    links = "".join(
        f'<li><a href="{escape(href)}">{escape(text)}</a></li>'
        for href, text in ((metrics_path, "Metrics"), *_LINKS, *extra_links)
    )
    body = "".join(rows) or '<tr><td colspan="5">No targets configured.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>powerstrip-exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.up{{color:#070}}.down{{color:#b00}}
.pending{{color:#888}}</style></head>
<body><h1>powerstrip-exporter</h1><p>Version {escape(__version__)}</p>
<ul>{links}</ul>
{_discovery_section(discovery_failures or [])}<h2>Targets</h2>
<table><tr><th>Source</th><th>Target</th><th>Status</th><th>Last success</th><th>Last error</th></tr>
{body}</table></body></html>
"""
