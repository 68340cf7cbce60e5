"""Turns one benchmark run into `latest.json` and `latest.md`: every figure beside the minimal exporter's,
and the targets checked at every size."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

Row = tuple[str, Any, Any, Any, str, bool | None]
"""figure, ours, minimal, ours / minimal, goal, met"""


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _le(value: float | None, limit: float | None) -> bool | None:
    return None if value is None or limit is None else value <= limit


def noise_band(nginx: float, again: float) -> tuple[float, float]:
    """Where a median of nginx's own scrapes may land in this run: the two jobs' medians (the same nginx,
    the same bytes), widened on each side by the distance between them."""
    low, high = min(nginx, again), max(nginx, again)
    return low - (high - low), high + (high - low)


def rows(size: dict[str, Any]) -> list[Row]:
    """The figures and targets of one size."""
    out: list[Row] = []
    starts = size.get("start_s", {})
    ours_start = statistics.median(starts["ours"]) if starts.get("ours") else None
    minimal_start = statistics.median(starts["minimal"]) if starts.get("minimal") else None
    r = _ratio(ours_start, minimal_start)
    out.append(
        ("start to first full /metrics, median of starts (s)", ours_start, minimal_start, r, "<= 1.1x", _le(r, 1.1))
    )
    steady = size.get("steady", {})
    ours, minimal = steady.get("ours", {}), steady.get("minimal", {})
    a, b = ours.get("cpu_ms_per_api_call"), minimal.get("cpu_ms_per_api_call")
    r = _ratio(a, b)
    out.append(("CPU per API call, unscraped (ms)", a, b, r, "<= 1.1x", _le(r, 1.1)))
    a, b = ours.get("rss_mb"), minimal.get("rss_mb")
    r = _ratio(a, b)
    cycles = min((s.get("rss_cycles", 0) for s in (ours, minimal) if s), default=0)
    out.append((f"RSS after {cycles} cycles, unscraped (MB)", a, b, r, "<= 1.0x", _le(r, 1.0)))
    minimum = size["min_api_calls_per_cycle"]
    a, b = ours.get("api_calls_per_cycle"), minimal.get("api_calls_per_cycle")
    exact = ours.get("api_calls_exact", False)
    met = None if a is None or not exact else abs(a - minimum) < 0.5
    how = "whole polls" if exact else "approximate: no idle instant to cut at, not judged"
    out.append((f"API calls per cycle, {how} (minimum {minimum:,})", a, b, _ratio(a, b), "the minimum", met))
    a, b = ours.get("poll_cycle_s"), minimal.get("poll_cycle_s")
    out.append(("poll cycle (s)", a, b, _ratio(a, b), "-", None))
    for form, label in (("text", "plain text"), ("om", "OpenMetrics")):
        g = size.get("gzip", {}).get(form)
        r = g["ratio"] if g else None
        out.append((f"gzip body / `gzip -6` of its text, {label}", r, None, None, "<= 1.05", _le(r, 1.05)))
    prom = size.get("prometheus", {})
    jobs = [prom.get(job, {}).get("median_ms") for job in ("ours", "nginx", "nginx-again")]
    if all(v is not None for v in jobs):
        ours_ms, nginx_ms, again_ms = jobs
        low, high = noise_band(nginx_ms, again_ms)
        out.append(("Prometheus scrape_duration_seconds, median, every 1 s (ms)", ours_ms, None, None, "-", None))
        out.append(
            ("the same, nginx serving ours' bytes; again as a second job (ms)", nginx_ms, again_ms, None, "-", None)
        )
        label = f"ours within nginx's noise band ({low:.1f} to {high:.1f} ms) or below"
        out.append((label, ours_ms / nginx_ms, None, None, "<= band", _le(ours_ms, high)))
        out.append(("RSS after the Prometheus cell, scraped (MB)", prom.get("ours_rss_mb"), None, None, "-", None))
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    o = results["options"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['system']}; load average "
        f"{m['loadavg_at_start']:.2f} at start, {m.get('loadavg_at_end', 0):.2f} at end. "
        f"Run of {results['started']}, {results.get('duration_s', 0) / 60:.1f} minutes.",
        "",
        f"Options: {json.dumps(o)}",
    ]
    for size in results["sizes"]:
        lines += [
            "",
            f"## {size['strips']:,} strips",
            "",
            f"{size['networks']} networks, poll interval {size['interval_s']:g} s (network-bound limit "
            f"{size['network_bound_limit_s']:.2f} s).",
            "",
            "| figure | ours | minimal | ours / minimal | target | met |",
            "|---|---:|---:|---:|---|---|",
        ]
        for figure, ours, minimal, ratio, goal, met in rows(size):
            lines.append(f"| {figure} | {_fmt(ours)} | {_fmt(minimal)} | {_fmt(ratio)} | {goal} | {_fmt(met)} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = [
        {"size": size["strips"], "figure": figure, "ours": ours, "minimal": minimal, "goal": goal, "met": met}
        for size in results["sizes"]
        for figure, ours, minimal, _, goal, met in rows(size)
        if goal != "-"
    ]
    json_path, md_path = out / "latest.json", out / "latest.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
