"""The benchmark: our exporter beside two prometheus_client exporters and an nginx floor, at several sizes.

    python -m bench.run --sizes 1000,5000   # the recorded run; ~25 minutes on 2 cores
    python -m bench.run --sizes 1000    # one size
    python -m bench.run --help          # every knob

Per fleet size it starts the CloudTrax simulator (N strips over 10 networks) and
the DLI simulator (50 EPCR6 units with meters) as their own processes on
127.0.0.1 with 50 ms latency, writes a config, and then, for our exporter, the
prometheus_client Gauge exporter (`bench/gauges.py`) and the scrape-time exporter
(`bench/baseline.py`) in turn:

1. runs the real process and follows its poll cycles through its target self-metrics;
2. over the steady cycles (after the first two) measures the cycle time, CPU seconds
   (utime + stime from /proc) and the API calls the simulators received, counted between
   instants at which no target was polling, so that only whole polls are counted;
3. (ours only, unless `--baseline-scrapes`) scrapes `/metrics` from 1 and from 10
   concurrent scraper processes in plain text, OpenMetrics and gzip, and splits the
   latencies into those that overlapped a poll cycle and those that did not; compares
   the gzip bodies with `gzip -6` of their text; starts nginx serving our exact bytes
   (`bench/floor.py`; nginx is not installed by the harness) under the same load; and
   has a real Prometheus scrape ours and nginx every 5 s, reading its own
   `scrape_duration_seconds` for both (and for the same nginx scraped as a second job:
   the spread of two medians of one server, for reference).

Then all three run again side by side, unscraped, for the memory soak: RSS after 10
cycles and after `--soak-cycles` (100) cycles, or after as many as fit in
`--soak-max-seconds`.

Results: `bench/results/latest.json` and `bench/results/latest.md` (every figure
beside its baselines, the growth exponent of each cost across sizes, and the targets).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import floor
from bench.procs import REPO, Child, Children, proc_cpu_rss
from bench.report import write_results

KEY = "bench-key"
SECRET = "bench-secret"
DLI_PASSWORD = "1234"
OM_ACCEPT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
FORMATS: dict[str, list[str]] = {
    "plain": [],
    "openmetrics": [f"Accept: {OM_ACCEPT}"],
    "gzip": ["Accept-Encoding: gzip"],
}
STATUS_NAMES = (
    "powerstrip_exporter_target_up",
    "powerstrip_exporter_target_polls_total",
    "powerstrip_exporter_target_last_success_timestamp_seconds",
    "powerstrip_exporter_target_poll_duration_seconds",
)
CUT_MARGIN = 0.005
"""Seconds a poll must have begun after a cut instant: its start is its end minus its duration, read
from two clocks a GIL hand-over apart, so it may come out a little late."""
SIMULATOR_NICENESS = 19
"""The simulators stand for devices on other hosts: at the lowest CPU priority, what they take from the two
shared cores disturbs the processes measured here as little as it can."""
PROBE_EVERY = 0.5
"""Seconds between status probes while scrapers or Prometheus run: often enough to see every poll (each
target's last poll stays visible for a whole interval, at least 0.5 s), rare enough to add little load."""
_STATUS_LINE = re.compile(r'^(\w+)\{source="([^"]*)",target="([^"]*)"\} (\S+)$')


KINDS = {"ours": "exporter", "gauges": "bench.gauges", "baseline": "bench.baseline"}
"""Our exporter; the prometheus_client exporter a user would write (Gauges set after each poll); and a
scrape-time exporter (a custom collector building every family at each scrape)."""


class Interrupted(Exception):
    """SIGTERM: stop like Ctrl-C does."""


@dataclass
class Options:
    sizes: list[int]
    networks: int
    dli: int
    latency: float
    concurrency: int
    cycles: int
    soak_cycles: int
    soak_max_seconds: float
    scrape_seconds: float
    scrape_max_seconds: float
    open_rounds: int
    scrapers: int
    period: float
    interval_factor: float
    min_interval: float
    out: Path
    baseline: bool
    baseline_scrapes: bool
    prometheus_seconds: float
    ours_variant: str | None
    keep_logs: bool


# -- small HTTP helpers ------------------------------------------------------------------


def http_get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def wait_http(url: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            http_get(url, timeout=5)
            return
        except OSError:
            pass
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} did not answer {url} within {timeout}s")
        time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- following poll cycles ---------------------------------------------------------------


@dataclass
class Poll:
    start: float
    end: float
    up: bool


@dataclass
class Tracker:
    """Follows each target's polls through the exporter's target self-metrics."""

    url: str
    targets: int
    polls: dict[tuple[str, str], dict[int, Poll]] = field(default_factory=dict)
    probes: int = 0

    def probe(self) -> dict[tuple[str, str], int]:
        query = urlencode([("name[]", n) for n in STATUS_NAMES])
        text = http_get(f"{self.url}/metrics?{query}").decode()
        self.probes += 1
        seen: dict[tuple[str, str], dict[str, float]] = {}
        for line in text.splitlines():
            m = _STATUS_LINE.match(line)
            if m and m.group(1) in STATUS_NAMES:
                seen.setdefault((m.group(2), m.group(3)), {})[m.group(1)] = float(m.group(4))
        counts = {}
        for key, vals in seen.items():
            count = int(vals.get("powerstrip_exporter_target_polls_total", 0))
            counts[key] = count
            if count <= 0:
                continue
            up = vals.get("powerstrip_exporter_target_up", 0.0) == 1.0
            end = vals.get("powerstrip_exporter_target_last_success_timestamp_seconds")
            duration = vals.get("powerstrip_exporter_target_poll_duration_seconds")
            record = self.polls.setdefault(key, {})
            if count not in record and end is not None and duration is not None and up:
                record[count] = Poll(end - duration, end, up)
            elif count not in record:
                record[count] = Poll(math.nan, math.nan, False)
        return counts

    def completed(self, source: str | None = None) -> int:
        """Cycles every target (of `source`) has finished (0 until all targets are known)."""
        if len(self.polls) < self.targets:
            return 0
        return min((max(r) if r else 0) for (src, _), r in self.polls.items() if source in (None, src))

    def counts(self) -> dict[tuple[str, str], int]:
        return {key: (max(r) if r else 0) for key, r in self.polls.items()}

    def wait(self, cycle: int, timeout: float, child: Child, interval: float = 0.05, source: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with suppress(OSError):
                self.probe()
            if self.completed(source) >= cycle:
                return
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name}: cycle {cycle} not complete after {timeout:.0f}s")
            time.sleep(interval)

    def polled_since(self, instant: float) -> bool:
        """Every target has ended a successful poll that began after `instant`."""
        if len(self.polls) < self.targets:
            return False
        return all(any(p.up and p.start > instant for p in r.values()) for r in self.polls.values())

    def wait_polled_since(self, instant: float, timeout: float, child: Child, interval: float = 0.05) -> None:
        """Wait until every target, of every source, has polled whole after `instant`."""
        deadline = time.monotonic() + timeout
        while True:
            with suppress(OSError):
                self.probe()
            if self.polled_since(instant):
                return
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name}: not every target polled after {instant:.3f} within {timeout:.0f}s")
            time.sleep(interval)

    def window(self, cycle: int, source: str | None = None) -> tuple[float, float] | None:
        """First start and last end of one cycle over the targets (of `source`) that succeeded in it."""
        polls = [r[cycle] for (src, _), r in self.polls.items() if cycle in r and r[cycle].up and source in (None, src)]
        if not polls:
            return None
        return min(p.start for p in polls), max(p.end for p in polls)

    def cut(
        self, keys: list[tuple[str, str]], near: float, earliest: float = -math.inf
    ) -> tuple[float, dict[tuple[str, str], int]] | None:
        """The instant closest to `near` (and not before `earliest`) at which none of `keys` was
        polling, with the polls each had finished by then; None when no such instant is known.
        Candidates are poll ends (+1 ms); one qualifies only when, for every target, the poll after it
        is known and began at least `CUT_MARGIN` later (a poll's start is derived from two clocks)."""
        ends = {p.end + 0.001 for k in keys for p in self.polls.get(k, {}).values() if math.isfinite(p.end)}
        for instant in sorted((t for t in ends if t >= earliest), key=lambda t: abs(t - near)):
            done = {k: self._finished_by(k, instant) for k in keys}
            if all(c is not None for c in done.values()):
                return instant, {k: c for k, c in done.items() if c is not None}
        return None

    def finished_by(self, keys: list[tuple[str, str]], instant: float) -> dict[tuple[str, str], int]:
        """Polls each of `keys` had ended by `instant`, whether or not one was running then."""
        return {k: self._ended_by(k, instant) for k in keys}

    def _ended_by(self, key: tuple[str, str], instant: float) -> int:
        return max((c for c, p in self.polls.get(key, {}).items() if p.end < instant), default=0)

    def _finished_by(self, key: tuple[str, str], instant: float) -> int | None:
        """Polls `key` had finished at `instant`, if it was provably not polling then."""
        finished = self._ended_by(key, instant)
        after = self.polls.get(key, {}).get(finished + 1)
        return finished if after is not None and after.start > instant + CUT_MARGIN else None

    def failures(self, first: int, last: int) -> int:
        return sum(1 for r in self.polls.values() for c, p in r.items() if first <= c <= last and not p.up)


# -- API call counts -------------------------------------------------------------------


def _cut_query(before: float | None) -> str:
    return f"?before={before!r}" if before is not None else ""


def cloudtrax_calls(url: str, before: float | None = None) -> dict[str, int]:
    ct = json.loads(http_get(f"{url}/_sim/requests{_cut_query(before)}"))
    return {f"cloudtrax {endpoint}": n for endpoint, n in ct["by_endpoint"].items()}


def dli_calls(url: str, before: float | None = None) -> dict[str, int]:
    stats = json.loads(http_get(f"{url}/_sim/stats{_cut_query(before)}"))
    counts = {f"dli {path}": n for path, n in stats["requests"].items()}
    if stats.get("challenges"):
        counts["dli 401 challenge"] = stats["challenges"]
    return counts


def add_counts(into: dict[str, float], counts: dict[str, int], divisor: float = 1.0) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0.0) + n / divisor


@dataclass
class CallDomain:
    """One set of simulator counters and the targets whose polls they count: the CloudTrax simulator
    and every CloudTrax target, or one DLI unit and its one target."""

    keys: list[tuple[str, str]]
    counts: Callable[[float | None], dict[str, int]]


def call_domains(fleet: Fleet, keys: list[tuple[str, str]]) -> list[CallDomain]:
    domains = [CallDomain([k for k in keys if k[0] == "cloudtrax"], partial(cloudtrax_calls, fleet.ct_url))]
    domains += [CallDomain([("dli", dli_name(i))], partial(dli_calls, url)) for i, url in enumerate(fleet.dli_urls)]
    return domains


def calls_per_cycle(
    tracker: Tracker, domains: list[CallDomain], near: tuple[float, float], earliest: float = -math.inf
) -> tuple[dict[str, float], dict[str, float], bool]:
    """API calls per cycle by endpoint, counted between two instants at which no target of a domain
    was polling, so that every poll in the window is counted whole: exact, however the window falls.
    No instant before `earliest` is used (the first cycle also reads usage, settings and firmware).

    Returns calls per cycle by endpoint, polls per target per source, and whether every domain had
    such instants (a domain without falls back to counts cut at `near`, divided by the polls that had
    ended by then: close, but a poll in flight at either end is counted in part). A domain with a
    target the tracker never saw, or with no poll in the window, is an error, not a smaller total."""
    by_endpoint: dict[str, float] = {}
    polls: dict[str, list[float]] = {}
    exact = True
    for domain in domains:
        unseen = [k for k in domain.keys if not tracker.polls.get(k)]
        if not domain.keys or unseen:
            raise RuntimeError(f"API calls: no polls seen for {unseen or 'an empty domain'}")
        first = tracker.cut(domain.keys, near[0], earliest)
        last = tracker.cut(domain.keys, near[1], earliest)
        if first is None or last is None or last[0] <= first[0]:
            exact = False
            first, last = ((instant, tracker.finished_by(domain.keys, instant)) for instant in near)
        (start, before), (end, after) = first, last
        per_target = sum(after[k] - before[k] for k in domain.keys) / len(domain.keys)
        if per_target <= 0:
            raise RuntimeError(f"API calls: no whole poll of {domain.keys} between {start:.3f} and {end:.3f}")
        add_counts(by_endpoint, delta(domain.counts(end), domain.counts(start)), per_target)
        polls.setdefault(domain.keys[0][0], []).append(per_target)
    return by_endpoint, {source: sum(v) / len(v) for source, v in polls.items()}, exact


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


# -- scraping -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[rank]


def latency_stats(rows: list[list[Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r[2] is not None and r[4] == 200]
    total = [r[2] * 1000 for r in ok]
    first = [r[1] * 1000 for r in ok]
    return {
        "n": len(ok),
        "errors": len(rows) - len(ok),
        "p50_ms": percentile(total, 50),
        "p99_ms": percentile(total, 99),
        "max_ms": max(total) if total else None,
        "ttfb_p50_ms": percentile(first, 50),
        "ttfb_p99_ms": percentile(first, 99),
    }


def scrape_cell(
    children: Children,
    tracker: Tracker,
    exporter: Child,
    port: int,
    fmt: str,
    scrapers: int,
    seconds: float,
    max_seconds: float,
    workdir: Path,
    period: float = 0.0,
) -> dict[str, Any]:
    """`scrapers` concurrent processes scrape one format for `seconds`; returns latency statistics.

    period 0: closed loop, each scraper asks again as soon as it has its answer (saturation).
    period > 0: open loop, every scraper asks at each multiple of `period` from a common start,
    so all `scrapers` ask at once, as Prometheus servers do.
    """
    start_at = time.time() + 0.6
    outs = []
    procs = []
    for i in range(scrapers):
        out = workdir / f"scrape-{fmt}-{scrapers}-{i}.jsonl"
        outs.append(out)
        args = ["-m", "bench.scraper", "--port", str(port), "--seconds", str(seconds), "--count", "5000"]
        args += ["--start-at", str(start_at), "--out", str(out), "--period", str(period)]
        for header in FORMATS[fmt]:
            args += ["--header", header]
        procs.append(children.python(f"scraper-{fmt}-{scrapers}-{i}", *args))
    deadline = time.monotonic() + max_seconds
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        with suppress(OSError):
            tracker.probe()  # keeps the poll windows of the cycles the scrapes overlap
        time.sleep(PROBE_EVERY)
    for p in procs:
        children.stop(p, timeout=2.0)
    rows: list[list[Any]] = []
    for out in outs:
        if out.exists():
            rows += [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
            out.unlink()
    tracker.probe()
    windows = [w for c in range(1, tracker.completed() + 2) if (w := tracker.window(c)) is not None]

    def during(row: list[Any]) -> bool:
        begin, end = row[0], row[0] + (row[2] or 0.0)
        return any(begin < w_end and end > w_start for w_start, w_end in windows)

    ok = [r for r in rows if r[2] is not None]
    result = latency_stats(rows)
    result["bytes"] = int(statistics.median([r[3] for r in ok])) if ok else None
    result["during_poll"] = latency_stats([r for r in rows if during(r)])
    result["idle"] = latency_stats([r for r in rows if not during(r)])
    return result


# -- one exporter ----------------------------------------------------------------------


@dataclass
class Fleet:
    strips: int
    config: Path
    ct_url: str
    dli_urls: list[str]
    interval: float
    limit: float
    targets: int
    minimum: int


def start_exporter(
    children: Children, kind: str, fleet: Fleet, tag: str, variant: str | None = None
) -> tuple[Child, int, str]:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    if kind == "ours":
        args = ["-m", "exporter"] if variant is None else ["-m", "bench.variant", *variant.split(), "--"]
        args += ["--config.file", str(fleet.config), "--web.listen-address", listen, "--log.level", "error"]
    else:
        args = ["-m", KINDS[kind], "--config.file", str(fleet.config), "--web.listen-address", listen]
    child = children.python(f"{kind}-{fleet.strips}-{tag}", *args)
    url = f"http://{listen}"
    wait_http(f"{url}/metrics?name[]=powerstrip_exporter_target_up", child, timeout=30)
    return child, port, url


def cycle_timeout(fleet: Fleet) -> float:
    return 60.0 + 20.0 * fleet.interval


def measure(children: Children, kind: str, fleet: Fleet, opts: Options, workdir: Path) -> dict[str, Any]:
    print(f"  {kind}: starting", flush=True)
    child, port, url = start_exporter(children, kind, fleet, "measure", opts.ours_variant)
    try:
        tracker = Tracker(url, fleet.targets)
        ct = "cloudtrax"
        tracker.wait(1, cycle_timeout(fleet), child)
        first = tracker.window(1, ct)
        warm = 2
        tracker.wait(warm, cycle_timeout(fleet), child, source=ct)
        cpu0, _ = proc_cpu_rss(child.pid)
        probes0 = tracker.probes
        near0 = time.time()
        counts0 = tracker.counts()
        last = max(opts.cycles, warm + 1)
        for cycle in range(warm + 1, last + 1):
            # Sleep through most of the cycle, then look every 50 ms for its end.
            previous = tracker.window(cycle - 1, ct)
            if previous is not None:
                wake = previous[0] + fleet.interval + 0.85 * (previous[1] - previous[0])
                time.sleep(max(0.0, min(wake - time.time(), fleet.interval * 2)))
            tracker.wait(cycle, cycle_timeout(fleet), child, source=ct)
        # The cycles above follow CloudTrax; a DLI target keeps its own phase and, on a busy machine,
        # may not have ended a poll inside them. The window closes only once every target has polled
        # whole within it, so each call domain has at least one whole poll to divide by.
        tracker.wait_polled_since(near0, cycle_timeout(fleet), child)
        cpu1, rss1 = proc_cpu_rss(child.pid)
        near1 = time.time()
        counts1 = tracker.counts()
        # One more cycle, so that the poll after the window's end is known to have begun after it.
        tracker.wait(last + 1, cycle_timeout(fleet), child)
        spans = [w[1] - w[0] for c in range(warm + 1, last + 1) if (w := tracker.window(c, ct)) is not None]
        dli_spans = [w[1] - w[0] for c in range(warm + 1, last + 1) if (w := tracker.window(c, "dli")) is not None]
        domains = call_domains(fleet, sorted(tracker.polls))
        warm_end = tracker.window(warm)
        earliest = warm_end[1] if warm_end is not None else near0
        by_endpoint, cycles, exact = calls_per_cycle(tracker, domains, (near0, near1), earliest)
        if not exact:
            print(
                f"  {kind}: some API counters had no idle instant; their calls per cycle are close, not exact",
                flush=True,
            )
        per_cycle = sum(by_endpoint.values())
        # CPU is read at near0 and near1: divide it by the CloudTrax polls per target between them.
        done = [counts1[k] - counts0.get(k, 0) for k in counts1 if k[0] == ct]
        steady = sum(done) / len(done) if done and sum(done) else float(last - warm)
        cpu_per_cycle = (cpu1 - cpu0) / steady
        calls_per_cpu_window = per_cycle * steady
        result: dict[str, Any] = {
            "first_cycle_s": (first[1] - first[0]) if first else None,
            "poll_cycle_s": statistics.median(spans) if spans else None,
            "poll_cycle_max_s": max(spans) if spans else None,
            "poll_cycles": spans,
            "dli_cycle_s": statistics.median(dli_spans) if dli_spans else None,
            "cycles_in_window": cycles,
            "poll_failures": tracker.failures(warm + 1, last),
            "cpu_s_per_cycle": cpu_per_cycle,
            "api_calls_per_cycle": per_cycle,
            "api_calls_by_endpoint_per_cycle": by_endpoint,
            "api_calls_exact": exact,
            "cpu_ms_per_api_call": 1000.0 * (cpu1 - cpu0) / calls_per_cpu_window if calls_per_cpu_window else None,
            "status_probes_in_window": tracker.probes - probes0,
            "rss_mb_after_cycles": rss1 / 2**20,
            "cycles_before_scrapes": last,
        }
        print(
            f"  {kind}: cycle {result['poll_cycle_s']:.2f}s (limit {fleet.limit:.2f}s), "
            f"cpu {cpu_per_cycle:.3f}s/cycle, {per_cycle:.0f} calls/cycle (min {fleet.minimum})",
            flush=True,
        )
        if kind != "ours" and not opts.baseline_scrapes:
            result["rss_mb_after_scrapes"] = proc_cpu_rss(child.pid)[1] / 2**20
            return result
        scrape: dict[str, dict[str, Any]] = {}
        seconds = min(max(opts.scrape_seconds, 1.05 * fleet.interval), opts.scrape_max_seconds)
        # Closed loop ("c": back to back) for all; open loop ("b": all ask at once every `period`) for ours
        # only, since the baselines take seconds per scrape and an open loop would measure the same queue.
        loads = [("c", 0.0, seconds)] + ([("b", opts.period, open_seconds(opts))] if kind == "ours" else [])
        for prefix, period, length in loads:
            for fmt in FORMATS:
                for n in sorted({1, opts.scrapers}):
                    cell = scrape_cell(children, tracker, child, port, fmt, n, length, length + 180.0, workdir, period)
                    scrape.setdefault(fmt, {})[f"{prefix}{n}"] = cell
                    print_cell(kind, fmt, n, period, cell)
        result["scrape"] = scrape
        result["exposition_bytes"] = {fmt: scrape[fmt][f"c{opts.scrapers}"]["bytes"] for fmt in FORMATS}
        if kind == "ours":
            bodies = fetch_bodies(url)
            result["gzip_sizes"] = gzip_sizes(bodies)
            print(f"  ours: gzip sizes {result['gzip_sizes']}", flush=True)
            floor_and_prometheus(children, tracker, port, bodies, opts, workdir, result)
        result["rss_mb_after_scrapes"] = proc_cpu_rss(child.pid)[1] / 2**20
        return result
    finally:
        children.stop(child)


BODY_REQUESTS = {
    "text": {},
    "om": {"Accept": OM_ACCEPT},
    "text-gz": {"Accept-Encoding": "gzip"},
    "om-gz": {"Accept": OM_ACCEPT, "Accept-Encoding": "gzip"},
}


def fetch_bodies(url: str, names: tuple[str, ...] = tuple(BODY_REQUESTS)) -> dict[str, bytes]:
    """The bodies a scraper can get (all four by default), as sent (gzip ones still compressed)."""
    out = {}
    for name in names:
        headers = BODY_REQUESTS[name]
        request = urllib.request.Request(f"{url}/metrics", headers={"Accept-Encoding": "identity", **headers})
        with urllib.request.urlopen(request, timeout=60) as resp:
            out[name] = resp.read()
    return out


def gzip_sizes(bodies: dict[str, bytes]) -> dict[str, Any]:
    """Our gzip bodies against `gzip -6` of the same text (the `gzip` program, as a user would run it)."""
    out: dict[str, Any] = {}
    for form in ("text", "om"):
        ours = bodies[f"{form}-gz"]
        text = gzip.decompress(ours)
        done = subprocess.run(["gzip", "-6", "-n", "-c"], input=text, capture_output=True, check=True, timeout=120)
        out[form] = {
            "plain": len(text),
            "ours": len(ours),
            "gzip6": len(done.stdout),
            "ratio": len(ours) / len(done.stdout),
        }
    return out


def floor_and_prometheus(
    children: Children,
    tracker: Tracker,
    ours_port: int,
    bodies: dict[str, bytes],
    opts: Options,
    workdir: Path,
    result: dict[str, Any],
) -> None:
    """nginx serving our exact bytes (the floor) under the same open-loop load, while our exporter keeps
    polling; then a real Prometheus scraping both every 5 s."""
    if not floor.available():
        print(f"  {floor.HOW_TO_GET}", flush=True)
        return
    port = free_port()
    nginx = floor.Floor.start(children, port, bodies)
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics", nginx.child, timeout=30)
        seconds = open_seconds(opts)
        for fmt in ("plain", "gzip"):
            cell = scrape_cell(
                children, tracker, nginx.child, port, fmt, opts.scrapers, seconds, seconds + 180.0, workdir, opts.period
            )
            result["scrape"][fmt]["floor10"] = cell
            print_cell("floor", fmt, opts.scrapers, opts.period, cell)
        if opts.prometheus_seconds > 0:
            result["prometheus"] = prometheus_cell(
                children, tracker, ours_port, nginx, opts.prometheus_seconds, workdir
            )
    finally:
        nginx.stop(children)


PROMETHEUS_CONFIG = """\
global: {{scrape_interval: 5s, scrape_timeout: 5s}}
scrape_configs:
  - job_name: ours
    static_configs: [{{targets: ["127.0.0.1:{ours}"]}}]
  - job_name: floor
    static_configs: [{{targets: ["127.0.0.1:{floor}"]}}]
  - job_name: floor-again
    static_configs: [{{targets: ["127.0.0.1:{floor}"]}}]
"""
"""`floor-again` scrapes the same nginx at another offset in the 5 s: how far two medians of the same
server drift apart in one run, the reference for ours / floor."""


FLOOR_REFRESH_SECONDS = 1.0
"""How often the floor's gzip bodies are replaced by ours' current ones while Prometheus scrapes both."""


def prometheus_cell(
    children: Children, tracker: Tracker, ours_port: int, nginx: floor.Floor, seconds: float, workdir: Path
) -> dict[str, Any]:
    """Prometheus' own `scrape_duration_seconds` for our exporter and for the floor, scraped side by side
    every 5 s (Prometheus asks for OpenMetrics with gzip). Medians over `seconds`.

    The floor serves ours' bytes of the last second, not one copy of them: Prometheus stores a sample
    whose value changed at a higher cost than one that did not (docs/benchmark.md), so a frozen floor
    would be cheaper to scrape than any live exporter."""
    binary = shutil.which("prometheus")
    if binary is None:
        print("  prometheus not found: install it (Debian/Ubuntu: apt-get install prometheus)", flush=True)
        return {}
    folder = workdir / "prometheus"
    folder.mkdir(exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(ours=ours_port, floor=nginx.port), encoding="utf-8")
    port = free_port()
    args = [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    prom = children.start("prometheus", args)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/-/ready", prom, timeout=60)
        started = time.time()
        refreshed = 0.0
        while time.time() - started < seconds:
            with suppress(OSError):
                tracker.probe()  # keeps the poll windows known, as in the other cells
            if time.monotonic() - refreshed >= FLOOR_REFRESH_SECONDS:
                refreshed = time.monotonic()
                with suppress(OSError):
                    nginx.replace(fetch_bodies(f"http://127.0.0.1:{ours_port}", ("text-gz", "om-gz")))
            if not prom.alive():
                raise RuntimeError(f"prometheus exited:\n{prom.output()[-3000:]}")
            time.sleep(PROBE_EVERY)
        window = int(time.time() - started) + 1
        query = urlencode({"query": f"scrape_duration_seconds[{window}s]"})
        answer = json.loads(http_get(f"{base}/api/v1/query?{query}"))
        out: dict[str, Any] = {}
        for series in answer["data"]["result"]:
            values = [float(v) for _, v in series["values"]]
            out[series["metric"]["job"]] = {
                "n": len(values),
                "median_ms": 1000.0 * statistics.median(values),
                "max_ms": 1000.0 * max(values),
            }
        query = urlencode({"query": f"min_over_time(up[{window}s])"})
        for series in json.loads(http_get(f"{base}/api/v1/query?{query}"))["data"]["result"]:
            out.setdefault(series["metric"]["job"], {})["always_up"] = series["value"][1] == "1"
        print(f"  prometheus: {out}", flush=True)
        return out
    finally:
        children.stop(prom)
        shutil.rmtree(folder, ignore_errors=True)


def print_cell(who: str, fmt: str, scrapers: int, period: float, cell: dict[str, Any]) -> None:
    pace = f" every {period:g}s:" if period else ""
    print(
        f"  {who}: {fmt:<11} x{scrapers:<2}{pace} p50 {cell['p50_ms'] or 0:9.2f} ms"
        f"  p99 {cell['p99_ms'] or 0:9.2f} ms  n={cell['n']}  {cell['bytes'] or 0} bytes",
        flush=True,
    )


def open_seconds(opts: Options) -> float:
    """Open-loop cells run a fixed number of rounds: a p99 needs hundreds of samples to mean anything."""
    return opts.open_rounds * opts.period


def soak(children: Children, kinds: list[str], fleet: Fleet, opts: Options) -> dict[str, dict[str, Any]]:
    """Both exporters side by side: RSS after 10 cycles and after `soak_cycles` (or the time cap)."""
    print(f"  soak: {', '.join(kinds)} side by side, up to {opts.soak_cycles} cycles", flush=True)
    running = {kind: start_exporter(children, kind, fleet, "soak", opts.ours_variant) for kind in kinds}
    trackers = {kind: Tracker(url, fleet.targets) for kind, (_, _, url) in running.items()}
    out: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
    first_mark = min(10, opts.soak_cycles)
    started = time.monotonic()
    try:
        while True:
            for kind, (child, _, _) in running.items():
                tracker = trackers[kind]
                with suppress(OSError):
                    tracker.probe()
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited:\n{child.output()[-3000:]}")
                done = tracker.completed()
                res = out[kind]
                if "rss_mb_at_10" not in res and done >= first_mark:
                    res["rss_mb_at_10"] = proc_cpu_rss(child.pid)[1] / 2**20
                    res["first_mark"] = done
                res["cycles"] = done
            elapsed = time.monotonic() - started
            finished = all(out[k].get("cycles", 0) >= opts.soak_cycles for k in kinds)
            if finished or (elapsed > opts.soak_max_seconds and all("rss_mb_at_10" in out[k] for k in kinds)):
                break
            if elapsed > opts.soak_max_seconds + 30 * fleet.interval + 120:
                raise TimeoutError("soak: the exporters did not reach 10 cycles")
            time.sleep(min(0.5, fleet.interval / 4))
        for kind, (child, _, _) in running.items():
            res = out[kind]
            res["rss_mb_at_end"] = proc_cpu_rss(child.pid)[1] / 2**20
            res["growth_pct"] = 100.0 * (res["rss_mb_at_end"] / res["rss_mb_at_10"] - 1.0)
            res["capped_by_time"] = res["cycles"] < opts.soak_cycles
            print(
                f"  soak {kind}: RSS {res['rss_mb_at_10']:.1f} MB at cycle {res['first_mark']}, "
                f"{res['rss_mb_at_end']:.1f} MB at cycle {res['cycles']}",
                flush=True,
            )
        return out
    finally:
        for child, _, _ in running.values():
            children.stop(child)


# -- one fleet size --------------------------------------------------------------------


def dli_name(index: int) -> str:
    return f"pdu-{index:03d}"


def write_config(
    path: Path, ct_url: str, network_ids: list[int], dli_urls: list[str], interval: float, concurrency: int
) -> None:
    ms = max(100, round(interval * 1000))
    lines = [
        "# generated by bench/run.py",
        "global:",
        f"  interval: {ms}ms",
        f"  timeout: {ms}ms",
        "  stale_after: 1h",
        "  jitter: 0",
        "  backoff_max: 1m",
        "sources:",
        f"  cloudtrax: {{max_concurrent_requests: {concurrency}}}",
        "  dli: {max_concurrent_requests: 16}",
        "targets:",
        "  - source: cloudtrax",
        "    name: bench",
        f"    key: {KEY}",
        f"    secret: {SECRET}",
        f"    base_url: {ct_url}",
        f"    networks: [{', '.join(str(n) for n in network_ids)}]",
    ]
    for i, url in enumerate(dli_urls):
        lines += [
            "  - source: dli",
            f"    name: {dli_name(i)}",
            f"    url: {url}",
            "    username: admin",
            f"    password: '{DLI_PASSWORD}'",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_size(children: Children, strips: int, opts: Options, workdir: Path) -> dict[str, Any]:
    print(f"== {strips} CloudTrax strips over {opts.networks} networks, {opts.dli} DLI units", flush=True)
    limit = strips * opts.latency / opts.concurrency
    interval = max(opts.min_interval, opts.interval_factor * limit + 0.3)
    interval = math.ceil(interval * 10) / 10
    ct = children.python(
        f"sim-cloudtrax-{strips}",
        "-m",
        "exporter",
        "simulate",
        "cloudtrax",
        "--strips",
        str(strips),
        "--networks",
        str(opts.networks),
        "--latency",
        str(opts.latency),
        "--key",
        KEY,
        "--secret",
        SECRET,
        niceness=SIMULATOR_NICENESS,
    )
    dli = children.python(
        f"sim-dli-{strips}",
        "-m",
        "exporter",
        "simulate",
        "dli",
        "--model",
        "epcr",
        "--count",
        str(opts.dli),
        "--latency",
        str(opts.latency),
        niceness=SIMULATOR_NICENESS,
    )
    try:
        ct_url = ct.wait_for_lines(r"listening on (http://\S+)", 1, 120)[0].group(1)
        networks = ct.wait_for_lines(r"networks: ([\d, ]+) \(", 1, 10)[0].group(1)
        network_ids = [int(n) for n in networks.split(",")]
        dli_urls = [m.group(1) for m in dli.wait_for_lines(r"simulator: (http://\S+)", opts.dli, 60)]
        config = workdir / f"config-{strips}.yml"
        write_config(config, ct_url, network_ids, dli_urls, interval, opts.concurrency)
        fleet = Fleet(
            strips=strips,
            config=config,
            ct_url=ct_url,
            dli_urls=dli_urls,
            interval=interval,
            limit=limit,
            targets=len(network_ids) + len(dli_urls),
            minimum=len(network_ids) + strips + 3 * len(dli_urls),
        )
        result: dict[str, Any] = {
            "strips": strips,
            "networks": len(network_ids),
            "dli_devices": len(dli_urls),
            "latency_s": opts.latency,
            "concurrency": opts.concurrency,
            "interval_s": interval,
            "network_bound_limit_s": limit,
            "min_api_calls_per_cycle": fleet.minimum,
        }
        kinds = ["ours", "gauges", "baseline"] if opts.baseline else ["ours"]
        for kind in kinds:
            result[kind] = measure(children, kind, fleet, opts, workdir)
        for kind, res in soak(children, kinds, fleet, opts).items():
            result[kind]["soak"] = res
        return result
    finally:
        children.stop(ct)
        children.stop(dli)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": os.getloadavg()[0],
    }


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000", help="CloudTrax fleet sizes (default 1000,5000)")
    p.add_argument("--networks", type=int, default=10, help="networks the strips are spread over (default 10)")
    p.add_argument("--dli", type=int, default=50, help="DLI units with meters (default 50)")
    p.add_argument("--latency", type=float, default=0.05, help="simulator latency in seconds (default 0.05)")
    p.add_argument("--concurrency", type=int, default=32, help="CloudTrax max_concurrent_requests (default 32)")
    p.add_argument(
        "--period", type=float, default=0.2, help="open-loop scrapes: all scrapers ask every PERIOD s (default 0.2)"
    )
    p.add_argument("--cycles", type=int, default=10, help="poll cycles before the scrape tests (default 10)")
    p.add_argument("--soak-cycles", type=int, default=100, help="cycles of the memory soak (default 100)")
    p.add_argument("--soak-max-seconds", type=float, default=300.0, help="stop the soak after this long (default 300)")
    p.add_argument("--scrape-seconds", type=float, default=3.0, help="minimum length of one scrape test")
    p.add_argument("--scrape-max-seconds", type=float, default=8.0, help="maximum length of one scrape test")
    p.add_argument(
        "--open-rounds",
        type=int,
        default=100,
        help="open-loop cells last ROUNDS x period seconds (default 100: up to 1,000 scrapes with 10 scrapers, "
        "enough for a p99; rounds that overrun the period are skipped)",
    )
    p.add_argument("--scrapers", type=int, default=10, help="concurrent scrapers (default 10; 1 is always run)")
    p.add_argument(
        "--interval-factor", type=float, default=1.6, help="poll interval = factor x limit + 0.3 s (default 1.6)"
    )
    p.add_argument("--min-interval", type=float, default=0.5, help="shortest poll interval in seconds")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="output folder")
    p.add_argument("--no-baseline", action="store_true", help="measure our exporter only")
    p.add_argument(
        "--baseline-scrapes", action="store_true", help="also run the scrape cells against the baselines (slow)"
    )
    p.add_argument(
        "--ours-variant", default=None, help="run ours through bench.variant with these options (see its help)"
    )
    p.add_argument(
        "--prometheus-seconds",
        type=float,
        default=60.0,
        help="how long a real Prometheus scrapes ours and the nginx floor every 5 s (default 60; 0: skip)",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    a = p.parse_args(argv)
    return Options(
        sizes=[int(s) for s in a.sizes.split(",") if s.strip()],
        networks=a.networks,
        dli=a.dli,
        latency=a.latency,
        concurrency=a.concurrency,
        cycles=a.cycles,
        soak_cycles=a.soak_cycles,
        soak_max_seconds=a.soak_max_seconds,
        scrape_seconds=a.scrape_seconds,
        scrape_max_seconds=a.scrape_max_seconds,
        open_rounds=a.open_rounds,
        scrapers=a.scrapers,
        period=a.period,
        interval_factor=a.interval_factor,
        min_interval=a.min_interval,
        out=a.out,
        baseline=not a.no_baseline,
        baseline_scrapes=a.baseline_scrapes,
        prometheus_seconds=a.prometheus_seconds,
        ours_variant=a.ours_variant,
        keep_logs=a.keep_logs,
    )


@contextmanager
def sigterm_stops() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Interrupted(f"signal {signum}")

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="powerstrip-bench-"))
    children = Children(workdir / "logs")
    results: dict[str, Any] = {
        "machine": machine(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items() if k != "out"},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "sizes": [],
    }
    try:
        with sigterm_stops():
            for strips in opts.sizes:
                results["sizes"].append(run_size(children, strips, opts, workdir))
    except (KeyboardInterrupt, Interrupted):
        print("bench: interrupted; stopping every child process", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        if not opts.keep_logs:
            for log in sorted((workdir / "logs").glob("*.log")) if (workdir / "logs").exists() else []:
                log.unlink()
            for path in sorted(workdir.glob("*"), reverse=True):
                if path.is_file():
                    path.unlink()
                elif path.is_dir():
                    path.rmdir()
            workdir.rmdir()
        else:
            print(f"bench: logs kept in {workdir}", file=sys.stderr)
    results["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    results["duration_s"] = time.time() - started
    json_path, md_path = write_results(results, opts.out)
    print(f"bench: wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
