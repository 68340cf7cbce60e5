"""Turns one benchmark run into `latest.json` and `latest.md`: figures beside their baselines, growth
exponents, and the targets checked at every size."""

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


MIN_P99_SAMPLES = 200
"""Fewer scrapes than this in either class (during polls, between them) and their p99 is one of the last
two values: the ratio is shown but not judged. `--open-rounds` sets how many there are."""

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
    (
        "gzip_open_poll_n",
        "gzip scrapes, 10 ask at once, during a poll cycle",
        _scrape("gzip", "b10", "n", "during_poll"),
        False,
    ),
    ("gzip_open_idle_n", "gzip scrapes, 10 ask at once, between polls", _scrape("gzip", "b10", "n", "idle"), False),
    (
        "prom_median_ms",
        "Prometheus scrape_duration_seconds, median, OpenMetrics + gzip every 5 s (ms)",
        _key("prometheus", "ours", "median_ms"),
        True,
    ),
    (
        "prom_floor_median_ms",
        "floor: nginx, same bytes, Prometheus scrape_duration_seconds, median (ms)",
        _key("prometheus", "floor", "median_ms"),
        True,
    ),
    (
        "prom_floor_again_median_ms",
        "the same nginx as a second Prometheus job, scrape_duration_seconds, median (ms)",
        _key("prometheus", "floor-again", "median_ms"),
        True,
    ),
    (
        "gzip_ratio_text",
        "gzip body / `gzip -6` of its text, plain text",
        _key("gzip_sizes", "text", "ratio"),
        True,
    ),
    ("gzip_ratio_om", "gzip body / `gzip -6` of its text, OpenMetrics", _key("gzip_sizes", "om", "ratio"), True),
    (
        "floor_gzip_p99_poll_ms",
        "floor: nginx, same gzip bytes, 10 ask at once, p99 during a poll cycle (ms)",
        _scrape("gzip", "floor10", "p99_ms", "during_poll"),
        True,
    ),
    (
        "floor_gzip_p99_idle_ms",
        "floor: nginx, same gzip bytes, 10 ask at once, p99 between polls (ms)",
        _scrape("gzip", "floor10", "p99_ms", "idle"),
        True,
    ),
    *(
        (
            f"floor_{fmt}_{q}_ms",
            f"floor: nginx, same {fmt} bytes, 10 ask at once, {q} (ms)",
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
        for kind in ("ours", "gauges", "baseline"):
            pts = [(float(s["strips"]), figures(s[kind])[key]) for s in sizes if kind in s]
            valid = [(x, y) for x, y in pts if y is not None]
            row[kind] = slope(valid)
            row[f"{kind}_last_step"] = slope(valid[-2:]) if len(valid) >= 2 else None
        out[key] = row
    return out


def targets(sizes: list[dict[str, Any]], exponents: dict[str, dict[str, float | None]]) -> list[dict[str, Any]]:
    """The targets, checked at every size: ours against the nginx floor and the prometheus_client
    Gauge exporter measured in the same run."""
    checks: list[dict[str, Any]] = []

    def check(size: int | None, name: str, value: Any, goal: str, ok: bool | None) -> None:
        checks.append({"size": size, "target": name, "measured": value, "goal": goal, "met": ok})

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    def le(v: float | None, limit: float) -> bool | None:
        return None if v is None else v <= limit

    for size in sizes:
        n = size["strips"]
        ours = figures(size["ours"])
        gauges = figures(size["gauges"]) if "gauges" in size else {}
        r = ratio(ours["prom_median_ms"], ours["prom_floor_median_ms"])
        check(n, "Prometheus scrape_duration median, ours / nginx", r, "<= 1.1", le(r, 1.1))
        r = ratio(ours["prom_floor_again_median_ms"], ours["prom_floor_median_ms"])
        check(n, "the same for nginx against itself, scraped as a second job (reference)", r, "-", None)
        for form in ("text", "om"):
            r = ours[f"gzip_ratio_{form}"]
            check(n, f"gzip body / gzip -6 ({form})", r, "<= 1.05", le(r, 1.05))
        during, idle = ours["gzip_p99_open_poll_ms"], ours["gzip_p99_open_idle_ms"]
        r = ratio(during, idle)
        counts = (ours["gzip_open_poll_n"] or 0, ours["gzip_open_idle_n"] or 0)
        if min(counts) >= MIN_P99_SAMPLES:
            check(n, "gzip p99, 10 at once, during a poll / between polls", r, "<= 2", le(r, 2.0))
        else:
            label = "gzip p99, 10 at once, during a poll / between polls "
            label += f"(too few scrapes to judge: {counts[0]:.0f} / {counts[1]:.0f})"
            check(n, label, r, "<= 2", None)
        r = ratio(ours["floor_gzip_p99_poll_ms"], ours["floor_gzip_p99_idle_ms"])
        check(n, "the same for nginx serving our bytes while we poll (reference)", r, "-", None)
        r = ratio(ours["cpu_ms_per_api_call"], gauges.get("cpu_ms_per_api_call"))
        check(n, "CPU per API call, unscraped, ours / prometheus_client gauges", r, "<= 1.1", le(r, 1.1))
        r = ratio(ours["rss_mb_at_10"], gauges.get("rss_mb_at_10"))
        check(n, "RSS at cycle 10, unscraped, ours / prometheus_client gauges", r, "<= 1.1", le(r, 1.1))
        r = ratio(ours["rss_mb_at_end"], gauges.get("rss_mb_at_end"))
        check(n, "RSS at the end of the soak, unscraped, ours / prometheus_client gauges", r, "<= 1.1", le(r, 1.1))
        calls, minimum = ours["api_calls_per_cycle"], size["min_api_calls_per_cycle"]
        exact = size["ours"].get("api_calls_exact", False)
        met = None if calls is None or not exact else abs(calls - minimum) < 0.5
        label = "API calls per cycle (whole polls)" if exact else "API calls per cycle (approximate count)"
        check(n, label, [calls, minimum], "exactly the minimum", met)
        soak = size["ours"].get("soak", {})
        grow = ours["rss_growth_pct"]
        label = f"RSS growth, cycle {soak.get('first_mark', '?')} -> {soak.get('cycles', '?')} (%)"
        check(n, label, grow, "<= 5 % (flat)", le(grow, 5))
    for key in ("cpu_s_per_cycle", "poll_cycle_s", "plain_bytes", "rss_mb_at_10"):
        e = exponents.get(key, {}).get("ours")
        check(None, f"growth exponent of {key}", e, "<= 1.1", le(e, 1.1))
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
    if ours is None or base is None or base == 0:
        return "-"
    r = ours / base
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark: powerstrip-exporter beside prometheus_client exporters and an nginx floor",
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
        f"(every {results['options'].get('period', '?')} s). `gauges`: the exporter a user would write with "
        "prometheus_client (labelled Gauges set after each poll, `start_http_server`); `scrape-time`: a custom "
        "collector building every family at each scrape. Ratio = ours / gauges (below 1: ours is cheaper).",
        "",
    ]
    for size in results["sizes"]:
        ours = figures(size["ours"])
        gauges = figures(size["gauges"]) if "gauges" in size else {}
        base = figures(size["baseline"]) if "baseline" in size else {}
        lines += [
            f"## {size['strips']:,} strips",
            "",
            f"Poll interval {size['interval_s']:g} s; network-bound limit "
            f"{size['network_bound_limit_s']:.2f} s (strips x latency / concurrency); minimum API calls per cycle "
            f"{size['min_api_calls_per_cycle']:,} ({size['networks']} lists + {size['strips']:,} gets + "
            f"3 x {size['dli_devices']} DLI reads).",
            "",
            "| figure | ours | gauges | scrape-time | ratio |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, label, _, _ in FIGURES:
            o, g, b = ours.get(key), gauges.get(key), base.get(key)
            if o is None and g is None and b is None:
                continue
            ratio = "-" if key == "rss_growth_pct" else _ratio(o, g)
            lines.append(f"| {label} | {_fmt(o)} | {_fmt(g)} | {_fmt(b)} | {ratio} |")
        soak = size["ours"].get("soak", {})
        if soak:
            lines += [
                "",
                f"Soak (side by side, unscraped): ours ran {soak.get('cycles')} cycles"
                + "".join(
                    f", {kind} {size[kind]['soak'].get('cycles')}"
                    for kind in ("gauges", "baseline")
                    if kind in size and "soak" in size[kind]
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
            "| cost | ours (all) | ours (last step) | gauges (all) | scrape-time (all) |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, row in exps.items():
            lines.append(
                f"| {key} | {_fmt(row.get('ours'))} | {_fmt(row.get('ours_last_step'))} | "
                f"{_fmt(row.get('gauges'))} | {_fmt(row.get('baseline'))} |"
            )
        lines.append("")
    checks = results.get("targets", [])
    if checks:
        lines += ["## Targets", "", "| size | target | measured | goal | met |", "|---|---|---:|---|---|"]
        for c in checks:
            size_label = f"{c['size']:,}" if c["size"] else "all"
            lines.append(f"| {size_label} | {c['target']} | {_fmt(c['measured'])} | {c['goal']} | {_fmt(c['met'])} |")
        lines.append("")
    return "\n".join(lines)


def write_results(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    results["growth_exponents"] = growth(results["sizes"])
    results["targets"] = targets(results["sizes"], results["growth_exponents"])
    for size in results["sizes"]:
        size["figures"] = {kind: figures(size[kind]) for kind in ("ours", "gauges", "baseline") if kind in size}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "latest.json"
    md_path = out / "latest.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
