"""Turns one benchmark run into `latest.json` and `latest.md`: figures, ratios, growth exponents, targets."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

Getter = Callable[[dict[str, Any]], float | None]


def _scrape(fmt: str, cell: str, stat: str, subset: str | None = None) -> Getter:
    def get(m: dict[str, Any]) -> float | None:
        c = m.get("scrape", {}).get(fmt, {}).get(cell)
        if c is None:
            return None
        if subset is not None:
            c = c.get(subset, {})
        value = c.get(stat)
        return float(value) if value is not None else None

    return get


def _key(*path: str, scale: float = 1.0) -> Getter:
    def get(m: dict[str, Any]) -> float | None:
        node: Any = m
        for p in path:
            if not isinstance(node, dict) or p not in node:
                return None
            node = node[p]
        return float(node) * scale if node is not None else None

    return get


# (key, label, getter, lower is better, counts as a cost for growth exponents)
FIGURES: list[tuple[str, str, Getter, bool]] = [
    ("plain_p50_ms", "/metrics plain p50, 10 back-to-back scrapers (ms)", _scrape("plain", "c10", "p50_ms"), True),
    ("plain_p99_ms", "/metrics plain p99, 10 back-to-back scrapers (ms)", _scrape("plain", "c10", "p99_ms"), True),
    (
        "om_p50_ms",
        "/metrics OM p50, 10 back-to-back scrapers (ms)",
        _scrape("openmetrics", "c10", "p50_ms"),
        True,
    ),
    (
        "om_p99_ms",
        "/metrics OM p99, 10 back-to-back scrapers (ms)",
        _scrape("openmetrics", "c10", "p99_ms"),
        True,
    ),
    ("gzip_p50_ms", "/metrics gzip p50, 10 back-to-back scrapers (ms)", _scrape("gzip", "c10", "p50_ms"), True),
    ("gzip_p99_ms", "/metrics gzip p99, 10 back-to-back scrapers (ms)", _scrape("gzip", "c10", "p99_ms"), True),
    ("plain_p50_1_ms", "/metrics plain p50, 1 back-to-back scraper (ms)", _scrape("plain", "c1", "p50_ms"), True),
    ("gzip_p50_1_ms", "/metrics gzip p50, 1 back-to-back scraper (ms)", _scrape("gzip", "c1", "p50_ms"), True),
    (
        "plain_ttfb_p50_ms",
        "/metrics plain time to first byte p50, 10 back-to-back scrapers (ms)",
        _scrape("plain", "c10", "ttfb_p50_ms"),
        True,
    ),
    (
        "gzip_p99_idle_ms",
        "/metrics gzip p99, 10 back-to-back scrapers, between polls (ms)",
        _scrape("gzip", "c10", "p99_ms", "idle"),
        True,
    ),
    (
        "gzip_p99_poll_ms",
        "/metrics gzip p99, 10 back-to-back scrapers, during a poll cycle (ms)",
        _scrape("gzip", "c10", "p99_ms", "during_poll"),
        True,
    ),
    (
        "plain_p50_poll_ms",
        "/metrics plain p50, 10 back-to-back scrapers, during a poll cycle (ms)",
        _scrape("plain", "c10", "p50_ms", "during_poll"),
        True,
    ),
    ("plain_p50_open_ms", "/metrics plain p50, 10 ask at once (ms)", _scrape("plain", "b10", "p50_ms"), True),
    ("plain_p99_open_ms", "/metrics plain p99, 10 ask at once (ms)", _scrape("plain", "b10", "p99_ms"), True),
    ("om_p50_open_ms", "/metrics OpenMetrics p50, 10 ask at once (ms)", _scrape("openmetrics", "b10", "p50_ms"), True),
    ("om_p99_open_ms", "/metrics OpenMetrics p99, 10 ask at once (ms)", _scrape("openmetrics", "b10", "p99_ms"), True),
    ("gzip_p50_open_ms", "/metrics gzip p50, 10 ask at once (ms)", _scrape("gzip", "b10", "p50_ms"), True),
    ("gzip_p99_open_ms", "/metrics gzip p99, 10 ask at once (ms)", _scrape("gzip", "b10", "p99_ms"), True),
    ("plain_p50_open1_ms", "/metrics plain p50, 1 asks alone (ms)", _scrape("plain", "b1", "p50_ms"), True),
    ("gzip_p50_open1_ms", "/metrics gzip p50, 1 asks alone (ms)", _scrape("gzip", "b1", "p50_ms"), True),
    (
        "gzip_p99_open_poll_ms",
        "/metrics gzip p99, 10 ask at once, during a poll cycle (ms)",
        _scrape("gzip", "b10", "p99_ms", "during_poll"),
        True,
    ),
    (
        "gzip_p99_open_idle_ms",
        "/metrics gzip p99, 10 ask at once, between polls (ms)",
        _scrape("gzip", "b10", "p99_ms", "idle"),
        True,
    ),
    *(
        (
            f"floor_{fmt}_{q}_ms",
            f"transfer floor: static server, same {fmt} bytes, 10 ask at once, {q} (ms)",
            _scrape(fmt, "floor10", f"{q}_ms"),
            True,
        )
        for fmt in ("plain", "gzip")
        for q in ("p50", "p99")
    ),
    ("plain_bytes", "exposition size, plain (bytes)", _key("exposition_bytes", "plain"), True),
    ("gzip_bytes", "exposition size, gzip (bytes)", _key("exposition_bytes", "gzip"), True),
    ("poll_cycle_s", "full poll cycle (s)", _key("poll_cycle_s"), True),
    ("first_cycle_s", "first poll cycle, with usage/settings/firmware (s)", _key("first_cycle_s"), True),
    ("cpu_s_per_cycle", "exporter CPU per cycle (s)", _key("cpu_s_per_cycle"), True),
    ("cpu_ms_per_api_call", "exporter CPU per API call (ms)", _key("cpu_ms_per_api_call"), True),
    ("api_calls_per_cycle", "API calls per cycle", _key("api_calls_per_cycle"), True),
    ("rss_mb_at_10", "RSS after 10 cycles (MB)", _key("soak", "rss_mb_at_10"), True),
    ("rss_mb_at_end", "RSS at the end of the soak (MB)", _key("soak", "rss_mb_at_end"), True),
    ("rss_growth_pct", "RSS growth, cycle 10 to end of soak (%)", _key("soak", "growth_pct"), True),
]

GROWTH = [
    "plain_p50_ms",
    "gzip_p50_ms",
    "plain_bytes",
    "poll_cycle_s",
    "cpu_s_per_cycle",
    "cpu_ms_per_api_call",
    "api_calls_per_cycle",
    "rss_mb_at_10",
]


def figures(m: dict[str, Any]) -> dict[str, float | None]:
    return {key: get(m) for key, _, get, _ in FIGURES}


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(value) over log(size): the growth exponent."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y is not None and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None


def growth(sizes: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for key in GROWTH:
        row: dict[str, float | None] = {}
        for kind in ("ours", "baseline"):
            pts = [(float(s["strips"]), figures(s[kind])[key]) for s in sizes if kind in s]
            valid = [(x, y) for x, y in pts if y is not None]
            row[kind] = slope(valid)
            row[f"{kind}_last_step"] = slope(valid[-2:]) if len(valid) >= 2 else None
        out[key] = row
    return out


def targets(sizes: list[dict[str, Any]], exponents: dict[str, dict[str, float | None]]) -> list[dict[str, Any]]:
    """The benchmark's targets, checked at 1,000 strips (or the size closest to it)."""
    if not sizes:
        return []
    size = min(sizes, key=lambda s: abs(s["strips"] - 1000))
    ours = figures(size["ours"])
    base = figures(size["baseline"]) if "baseline" in size else {}
    checks: list[dict[str, Any]] = []

    def check(name: str, value: Any, goal: str, ok: bool | None) -> None:
        checks.append({"target": name, "measured": value, "goal": goal, "met": ok})

    def le(v: float | None, limit: float) -> bool | None:
        return None if v is None else v <= limit

    for fmt in ("plain", "gzip"):
        p50, p99 = ours[f"{fmt}_p50_open_ms"], ours[f"{fmt}_p99_open_ms"]
        check(f"/metrics {fmt} p50 (10 ask at once)", p50, "<= 5 ms", le(p50, 5))
        check(f"/metrics {fmt} p99 (10 ask at once)", p99, "<= 20 ms", le(p99, 20))
        floor = [ours[f"floor_{fmt}_p50_ms"], ours[f"floor_{fmt}_p99_ms"]]
        check(f"transfer floor for {fmt} p50 / p99 (static server, same bytes and load)", floor, "-", None)
        one = ours[f"{fmt}_p50_open1_ms"]
        ratio = p50 / one if one and p50 else None
        check(f"/metrics {fmt} p50, 10 at once / 1 alone", ratio, "~1 (independent of scrapers)", None)
        p50, p99 = ours[f"{fmt}_p50_ms"], ours[f"{fmt}_p99_ms"]
        check(f"/metrics {fmt} p50 (10 back-to-back scrapers)", p50, "<= 5 ms", le(p50, 5))
        check(f"/metrics {fmt} p99 (10 back-to-back scrapers)", p99, "<= 20 ms", le(p99, 20))
        b50 = base.get(f"{fmt}_p50_ms")
        speedup = b50 / p50 if b50 and p50 else None
        met = None if speedup is None else speedup >= 20
        check(f"/metrics {fmt} p50 speed-up over the baseline", speedup, ">= 20x", met)
        one, ten = ours[f"{fmt}_p50_1_ms"], ours[f"{fmt}_p50_ms"]
        ratio = ten / one if one and ten else None
        check(f"/metrics {fmt} p50, 10 back-to-back / 1", ratio, "~1 (independent of scrapers)", None)
    idle, during = ours["gzip_p99_open_idle_ms"], ours["gzip_p99_open_poll_ms"]
    check("/metrics gzip p99, 10 at once, during a poll cycle vs between", [during, idle], "unaffected", le(during, 20))
    calls, minimum = ours["api_calls_per_cycle"], size["min_api_calls_per_cycle"]
    if size["ours"].get("api_calls_exact", False):
        check("API calls per cycle (whole polls)", [calls, minimum], "exactly the minimum", abs(calls - minimum) < 0.5)
    else:  # a counter had no idle instant to cut at, so a poll in flight at a window edge was counted in part
        check("API calls per cycle (approximate count)", [calls, minimum], "exactly the minimum", None)
    cycle, limit = ours["poll_cycle_s"], size["network_bound_limit_s"]
    within = None if cycle is None else cycle <= 2 * limit
    check("poll cycle vs network-bound limit", [cycle, limit], "<= 2x limit", within)
    cpu = ours["cpu_ms_per_api_call"]
    check("exporter CPU per API call (ms)", cpu, "<= 1 ms", le(cpu, 1.0))
    rss, grow = ours["rss_mb_at_end"], ours["rss_growth_pct"]
    check("RSS (MB)", rss, "<= 150 MB", le(rss, 150))
    check("RSS growth cycle 10 -> end of soak (%)", grow, "<= 5 %", le(grow, 5))
    for key in ("cpu_s_per_cycle", "poll_cycle_s", "plain_bytes", "rss_mb_at_10"):
        e = exponents.get(key, {}).get("ours")
        check(f"growth exponent of {key}, 100 -> 5,000", e, "<= 1.1", le(e, 1.1))
    return checks


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return " / ".join(_fmt(x) for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 10000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)


def _ratio(ours: float | None, base: float | None) -> str:
    if ours is None or base is None or ours == 0:
        return "-"
    r = base / ours
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark: powerstrip-exporter vs a scrape-time baseline",
        "",
        f"Machine: {m.get('cpu') or 'unknown CPU'}, {m.get('cores')} cores, {m.get('memory')}, "
        f"Python {m.get('python')}, {m.get('system')}; load average {m.get('loadavg_at_start', 0):.2f} at start, "
        f"{m.get('loadavg_at_end', 0):.2f} at end. Run of {results.get('started')}, "
        f"{results.get('duration_s', 0) / 60:.1f} minutes.",
        "",
        "Setup: CloudTrax simulator with N strips over "
        f"{results['sizes'][0]['networks'] if results['sizes'] else '?'} networks and "
        f"{results['sizes'][0]['dli_devices'] if results['sizes'] else '?'} DLI EPCR6 units with meters, "
        f"{results['options']['latency'] * 1000:.0f} ms latency on every request, CloudTrax concurrency "
        f"{results['options']['concurrency']}; scrapers are separate processes on raw sockets. "
        f"Each open-loop cell runs {results['options'].get('open_rounds', '?')} rounds "
        f"(every {results['options'].get('period', '?')} s). Ratio = baseline / ours (above 1: ours is better).",
        "",
    ]
    for size in results["sizes"]:
        ours = figures(size["ours"])
        base = figures(size["baseline"]) if "baseline" in size else {}
        lines += [
            f"## {size['strips']:,} strips",
            "",
            f"Poll interval {size['interval_s']:g} s; network-bound limit "
            f"{size['network_bound_limit_s']:.2f} s (strips x latency / concurrency); minimum API calls per cycle "
            f"{size['min_api_calls_per_cycle']:,} ({size['networks']} lists + {size['strips']:,} gets + "
            f"3 x {size['dli_devices']} DLI reads).",
            "",
            "| figure | ours | baseline | ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, label, _, _ in FIGURES:
            o, b = ours.get(key), base.get(key)
            ratio = "-" if key == "rss_growth_pct" else _ratio(o, b)
            lines.append(f"| {label} | {_fmt(o)} | {_fmt(b)} | {ratio} |")
        soak = size["ours"].get("soak", {})
        if soak:
            lines += [
                "",
                f"Soak: ours ran {soak.get('cycles')} cycles"
                + (
                    f", baseline {size['baseline']['soak'].get('cycles')}"
                    if "baseline" in size and "soak" in size["baseline"]
                    else ""
                )
                + (" (stopped by the time cap)." if soak.get("capped_by_time") else "."),
            ]
        lines.append("")
    exps = results.get("growth_exponents", {})
    if exps:
        lines += [
            "## Growth exponents",
            "",
            "Slope of log(cost) over log(strips): 1 is linear, above 1 super-linear. "
            "`all` fits every size, `last step` only the two largest.",
            "",
            "| cost | ours (all) | ours (last step) | baseline (all) | baseline (last step) |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, row in exps.items():
            lines.append(
                f"| {key} | {_fmt(row.get('ours'))} | {_fmt(row.get('ours_last_step'))} | "
                f"{_fmt(row.get('baseline'))} | {_fmt(row.get('baseline_last_step'))} |"
            )
        lines.append("")
    checks = results.get("targets", [])
    if checks:
        size = min(results["sizes"], key=lambda s: abs(s["strips"] - 1000))
        lines += [
            f"## Targets at {size['strips']:,} strips",
            "",
            "| target | measured | goal | met |",
            "|---|---:|---|---|",
        ]
        for c in checks:
            lines.append(f"| {c['target']} | {_fmt(c['measured'])} | {c['goal']} | {_fmt(c['met'])} |")
        lines.append("")
    return "\n".join(lines)


def write_results(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    results["growth_exponents"] = growth(results["sizes"])
    results["targets"] = targets(results["sizes"], results["growth_exponents"])
    for size in results["sizes"]:
        size["figures"] = {kind: figures(size[kind]) for kind in ("ours", "baseline") if kind in size}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "latest.json"
    md_path = out / "latest.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
