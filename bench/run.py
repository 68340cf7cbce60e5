"""The benchmark: our exporter beside an independent minimal exporter and an nginx floor, in one run.

    python -m bench.run                       # the recorded run: 1,000 and 5,000 strips, about 30 minutes
    python -m bench.run --sizes 1000          # one size
    python -m bench.run --help                # every knob

The minimal exporter (`--minimal`, by default ../shared/perf/minimal_exporter.py next to this
repository) is an asyncio + aiohttp poll loop with prometheus_client Gauges, written independently
of this project; it takes `--base --key --secret --networks --interval --concurrency --port`.

Per fleet size, each exporter gets its own CloudTrax simulator (N strips over 10 networks, 50 ms
latency, at the lowest CPU priority: they stand for devices on other hosts), and the run measures:

1. start to first full `/metrics`: each exporter started alone, in turn, `--starts` times; the time
   from the start of the process to the first moment every target's first poll is published;
2. side by side, unscraped (only status probes): CPU per API call and API calls per cycle over the
   steady cycles, counted between instants at which no target was polling, so that only whole polls
   are counted; then RSS after `--soak-cycles` cycles;
3. ours alone: the size of its gzip bodies against `gzip -6` of their text, and a real Prometheus
   scraping ours and nginx serving ours' current bytes (`bench/floor.py`) as two jobs, every second,
   whose medians of `scrape_duration_seconds` give nginx's own noise band in the same run.

Results: `bench/results/latest.json` and `latest.md` (`bench/report.py`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
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
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import floor
from bench.procs import REPO, Child, Children, proc_cpu_rss
from bench.report import write_results
from bench.tracker import Tracker, calls_per_cycle, http_get

KEY = "bench-key"
SECRET = "bench-secret"
DEFAULT_MINIMAL = REPO.parent / "shared" / "perf" / "minimal_exporter.py"
SIMULATOR_NICENESS = 19
PROBE_EVERY = 0.5
"""Seconds between status probes in the steady and Prometheus cells (a quarter of the poll interval when
that is shorter): often enough to see every poll (each target's last poll stays visible for a whole
interval), rare enough to add little load."""
START_PROBE_EVERY = 0.05
"""Seconds between status probes while waiting for the first full /metrics."""
OM_ACCEPT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
BODY_REQUESTS = {
    "text": {},
    "om": {"Accept": OM_ACCEPT},
    "text-gz": {"Accept-Encoding": "gzip"},
    "om-gz": {"Accept": OM_ACCEPT, "Accept-Encoding": "gzip"},
}
FLOOR_REFRESH_SECONDS = 1.0
"""How often nginx's gzip body is replaced by ours' current one while Prometheus scrapes both: Prometheus
stores a changed value at a higher cost than an unchanged one, so a frozen copy would be cheaper to scrape
than any live exporter."""
PROMETHEUS_CONFIG = """\
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: ours
    static_configs: [{{targets: ["127.0.0.1:{ours}"]}}]
  - job_name: nginx
    static_configs: [{{targets: ["127.0.0.1:{floor}"]}}]
  - job_name: nginx-again
    static_configs: [{{targets: ["127.0.0.1:{floor}"]}}]
"""


class Interrupted(Exception):
    """SIGTERM: stop like Ctrl-C does."""


@dataclass
class Options:
    sizes: list[int]
    networks: int
    latency: float
    concurrency: int
    interval_factor: float
    min_interval: float
    starts: int
    warm: int
    cycles: int
    soak_cycles: int
    soak_max_seconds: float
    prometheus_seconds: float
    minimal: Path | None
    ours_args: list[str]
    out: Path
    keep_logs: bool


@dataclass
class Fleet:
    """One size: the simulators (one per exporter) and the schedule both exporters poll on."""

    strips: int
    networks: list[int]
    interval: float
    limit: float
    sims: dict[str, str]
    """Simulator URL by exporter kind."""
    workdir: Path

    @property
    def minimum(self) -> int:
        """API calls per cycle of an exporter that reads each strip once: one list per network, one get per strip."""
        return len(self.networks) + self.strips

    def cycle_timeout(self) -> float:
        return 60.0 + 20.0 * self.interval


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_counts(url: str, before: float | None = None) -> dict[str, int]:
    query = f"?before={before!r}" if before is not None else ""
    counts: dict[str, int] = json.loads(http_get(f"{url}/_sim/requests{query}"))["by_endpoint"]
    return counts


# -- the exporters ----------------------------------------------------------------------


def write_config(fleet: Fleet, path: Path, concurrency: int) -> None:
    ms = max(100, round(fleet.interval * 1000))
    path.write_text(
        "\n".join(
            [
                "# generated by bench/run.py",
                f"global: {{interval: {ms}ms, timeout: {ms}ms, stale_after: 1h, jitter: 0, backoff_max: 1m}}",
                "sources:",
                f"  cloudtrax: {{max_concurrent_requests: {concurrency}}}",
                "targets:",
                "  - source: cloudtrax",
                "    name: bench",
                f"    key: {KEY}",
                f"    secret: {SECRET}",
                f"    base_url: {fleet.sims['ours']}",
                f"    networks: [{', '.join(map(str, fleet.networks))}]",
            ]
        )
        + "\n",
        encoding="utf-8",
    )


def start_exporter(children: Children, kind: str, fleet: Fleet, opts: Options, tag: str) -> tuple[Child, str]:
    """Start one exporter on a free loopback port; returns it and its base URL (not waited for)."""
    port = free_port()
    if kind == "ours":
        config = fleet.workdir / f"config-{fleet.strips}.yml"
        write_config(fleet, config, opts.concurrency)
        args = ["-m", "exporter", "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"]
        args += ["--log.level", "error", *opts.ours_args]
    else:
        assert opts.minimal is not None
        args = [str(opts.minimal), "--base", fleet.sims["minimal"], "--key", KEY, "--secret", SECRET]
        args += ["--networks", ",".join(map(str, fleet.networks)), "--interval", f"{fleet.interval:g}"]
        args += ["--concurrency", str(opts.concurrency), "--port", str(port)]
    return children.python(f"{kind}-{fleet.strips}-{tag}", *args), f"http://127.0.0.1:{port}"


def count_strips(url: str) -> int:
    """Strips with a `cloudtrax_powerstrip_up` series: the families both exporters emit for every strip."""
    text = http_get(f"{url}/metrics?{urlencode({'name[]': 'cloudtrax_powerstrip_up'})}").decode()
    return sum(1 for line in text.splitlines() if line.startswith("cloudtrax_powerstrip_up{"))


def start_cell(children: Children, fleet: Fleet, kinds: list[str], opts: Options) -> dict[str, list[float]]:
    """Each exporter alone, in turn (order alternating per round): seconds from the start of its process
    to the first moment every target has published a successful first poll."""
    out: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(opts.starts):
        for kind in kinds if round_ % 2 == 0 else list(reversed(kinds)):
            started = time.monotonic()
            child, url = start_exporter(children, kind, fleet, opts, f"start{round_}")
            try:
                tracker = Tracker(url, len(fleet.networks))
                tracker.wait(tracker.all_up, fleet.cycle_timeout(), child, every=START_PROBE_EVERY)
                seconds = time.monotonic() - started
                strips = count_strips(url)
                if strips != fleet.strips:
                    raise RuntimeError(f"{kind}: first full /metrics holds {strips} of {fleet.strips} strips")
            finally:
                children.stop(child)
            out[kind].append(seconds)
            print(f"  start: {kind} {seconds:.2f} s", flush=True)
    return out


@dataclass
class Running:
    kind: str
    child: Child
    url: str
    tracker: Tracker
    cpu: list[tuple[float, float]]
    """(wall time, CPU seconds) at each probe."""

    def probe(self) -> None:
        with suppress(OSError):
            self.tracker.probe()
        if not self.child.alive():
            raise RuntimeError(f"{self.child.name} exited:\n{self.child.output()[-3000:]}")
        self.cpu.append((time.time(), proc_cpu_rss(self.child.pid)[0]))


def steady_cell(
    children: Children, fleet: Fleet, kinds: list[str], opts: Options
) -> tuple[dict[str, dict[str, Any]], dict[str, Running]]:
    """Both exporters side by side, unscraped but for status probes: CPU per API call and API calls per
    cycle over the steady cycles, then RSS after `soak_cycles`. Returns the figures and the exporters,
    still running."""
    running: dict[str, Running] = {}
    for kind in kinds:
        child, url = start_exporter(children, kind, fleet, opts, "steady")
        running[kind] = Running(kind, child, url, Tracker(url, len(fleet.networks)), [])

    def wait_all(until: Callable[[Running], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(until(r) for r in running.values()):
            for r in running.values():
                r.probe()
            if time.monotonic() > deadline:
                raise TimeoutError("steady: the exporters did not get there in time")
            time.sleep(min(PROBE_EVERY, fleet.interval / 4))

    wait_all(lambda r: r.tracker.completed() >= opts.warm, fleet.cycle_timeout() * opts.warm)
    earliest = {kind: r.tracker.window(opts.warm) for kind, r in running.items()}
    begin = {kind: r.cpu[-1] for kind, r in running.items()}
    last = opts.warm + opts.cycles
    wait_all(lambda r: r.tracker.completed() >= last + 1, fleet.cycle_timeout() * (opts.cycles + 1))
    out = {kind: steady_figures(r, fleet, begin[kind], r.cpu[-1], earliest[kind], opts) for kind, r in running.items()}
    started = time.monotonic()
    wait_all(
        lambda r: r.tracker.completed() >= opts.soak_cycles or time.monotonic() - started > opts.soak_max_seconds,
        opts.soak_max_seconds + fleet.cycle_timeout(),
    )
    for kind, r in running.items():
        out[kind]["rss_mb"] = proc_cpu_rss(r.child.pid)[1] / 2**20
        out[kind]["rss_cycles"] = r.tracker.completed()
        print(f"  steady: {kind} RSS {out[kind]['rss_mb']:.1f} MB after {out[kind]['rss_cycles']} cycles", flush=True)
    return out, running


def steady_figures(
    r: Running,
    fleet: Fleet,
    begin: tuple[float, float],
    end: tuple[float, float],
    warm: tuple[float, float] | None,
    opts: Options,
) -> dict[str, Any]:
    """CPU per API call between two probes (`begin`, `end`: wall time and CPU seconds), over the calls the
    simulator received between the same instants; and API calls per cycle, exact when there are instants
    at which no target was polling to cut at (else approximate: calls over the polls that ended)."""
    counts = partial(sim_counts, fleet.sims[r.kind])
    before, after = counts(begin[0]), counts(end[0])
    calls = sum(after.values()) - sum(before.values())
    result: dict[str, Any] = {"cpu_s": end[1] - begin[1], "api_calls": calls}
    result["cpu_ms_per_api_call"] = 1000.0 * result["cpu_s"] / calls if calls else None
    try:
        by_endpoint, _ = calls_per_cycle(r.tracker, counts, (begin[0], end[0]), warm[1] if warm else begin[0])
        result["api_calls_exact"] = True
    except RuntimeError as err:  # a machine too busy to leave an idle instant
        print(f"  steady: {r.kind}: {err}; calls per cycle approximate", flush=True)
        polls = [sum(1 for p in record.values() if begin[0] < p.end <= end[0]) for record in r.tracker.polls.values()]
        per_target = sum(polls) / len(polls) if polls else 0
        by_endpoint = {k: (after[k] - before.get(k, 0)) / per_target for k in after if per_target}
        result["api_calls_exact"] = False
    spans = [w[1] - w[0] for c in range(opts.warm + 1, opts.warm + opts.cycles + 1) if (w := r.tracker.window(c))]
    result.update(
        api_calls_by_endpoint_per_cycle=by_endpoint,
        api_calls_per_cycle=sum(by_endpoint.values()),
        poll_cycle_s=statistics.median(spans) if spans else None,
    )
    print(
        f"  steady: {r.kind} {result['cpu_ms_per_api_call']:.3f} ms CPU per API call, "
        f"{result['api_calls_per_cycle']:.0f} calls per cycle (minimum {fleet.minimum})",
        flush=True,
    )
    return result


# -- ours, scraped ----------------------------------------------------------------------


def fetch_bodies(url: str, names: tuple[str, ...] = tuple(BODY_REQUESTS)) -> dict[str, bytes]:
    """The bodies a scraper can get (all four by default), as sent (gzip ones still compressed)."""
    out = {}
    for name in names:
        headers = {"Accept-Encoding": "identity", **BODY_REQUESTS[name]}
        with urllib.request.urlopen(urllib.request.Request(f"{url}/metrics", headers=headers), timeout=60) as resp:
            out[name] = resp.read()
    return out


def gzip_cell(bodies: dict[str, bytes]) -> dict[str, Any]:
    """Our gzip bodies against `gzip -6` of the same text (the `gzip` program, as a user would run it)."""
    out: dict[str, Any] = {}
    for form in ("text", "om"):
        ours = bodies[f"{form}-gz"]
        text = gzip.decompress(ours)
        done = subprocess.run(["gzip", "-6", "-n", "-c"], input=text, capture_output=True, check=True, timeout=120)
        out[form] = {"plain": len(text), "ours": len(ours), "gzip6": len(done.stdout)}
        out[form]["ratio"] = len(ours) / len(done.stdout)
    print(f"  gzip: {out}", flush=True)
    return out


def prometheus_cell(children: Children, ours: Running, fleet: Fleet, opts: Options) -> dict[str, Any]:
    """A real Prometheus scrapes ours and nginx (serving ours' current bytes) as two jobs, every second,
    for `prometheus_seconds`; the medians of its own `scrape_duration_seconds` per job."""
    binary = shutil.which("prometheus")
    if binary is None or not floor.available():
        print(f"  prometheus or nginx not found: {floor.HOW_TO_GET}; Debian/Ubuntu: apt-get install prometheus")
        return {}
    nginx = floor.Floor.start(children, free_port(), fetch_bodies(ours.url))
    folder = fleet.workdir / "prometheus"
    folder.mkdir(exist_ok=True)
    (folder / "prometheus.yml").write_text(PROMETHEUS_CONFIG.format(ours=ours.url.rsplit(":", 1)[1], floor=nginx.port))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}"]
    prom = children.start("prometheus", [*args, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(OSError):
                http_get(f"{base}/-/ready", timeout=5)
                break
            if time.monotonic() > deadline or not prom.alive():
                raise RuntimeError(f"prometheus did not start:\n{prom.output()[-3000:]}")
            time.sleep(0.2)
        started = time.time()
        refreshed = 0.0
        while time.time() - started < opts.prometheus_seconds:
            ours.probe()
            if time.monotonic() - refreshed >= FLOOR_REFRESH_SECONDS:
                refreshed = time.monotonic()
                with suppress(OSError):
                    nginx.replace(fetch_bodies(ours.url, ("om-gz",)))
            time.sleep(min(PROBE_EVERY, fleet.interval / 4))
        window = int(time.time() - started)
        out: dict[str, Any] = {}
        for query in (f"scrape_duration_seconds[{window}s]", f"scrape_samples_scraped[{window}s]"):
            answer = json.loads(http_get(f"{base}/api/v1/query?{urlencode({'query': query})}"))
            for series in answer["data"]["result"]:
                values = [float(v) for _, v in series["values"]]
                job = out.setdefault(series["metric"]["job"], {})
                if query.startswith("scrape_duration"):
                    job.update(n=len(values), median_ms=1000.0 * statistics.median(values))
                    job["minutes_ms"] = [
                        1000.0 * statistics.median(values[i : i + 60]) for i in range(0, len(values), 60)
                    ]
                else:
                    job["samples"] = statistics.median(values)
        answer = json.loads(http_get(f"{base}/api/v1/query?{urlencode({'query': f'min_over_time(up[{window}s])'})}"))
        for series in answer["data"]["result"]:
            out.setdefault(series["metric"]["job"], {})["always_up"] = series["value"][1] == "1"
        out["ours_rss_mb"] = proc_cpu_rss(ours.child.pid)[1] / 2**20
        print(f"  prometheus: { {k: v.get('median_ms') for k, v in out.items() if isinstance(v, dict)} }", flush=True)
        return out
    finally:
        children.stop(prom)
        nginx.stop(children)


# -- one size ---------------------------------------------------------------------------


def start_simulator(children: Children, name: str, strips: int, opts: Options) -> tuple[str, list[int]]:
    args = ["-m", "exporter", "simulate", "cloudtrax", "--strips", str(strips), "--networks", str(opts.networks)]
    args += ["--latency", str(opts.latency), "--key", KEY, "--secret", SECRET]
    sim = children.python(name, *args, niceness=SIMULATOR_NICENESS)
    url = sim.wait_for_lines(r"listening on (http://\S+)", 1, 120)[0].group(1)
    networks = sim.wait_for_lines(r"networks: ([\d, ]+) \(", 1, 10)[0].group(1)
    return url, [int(n) for n in networks.split(",")]


def run_size(children: Children, strips: int, opts: Options, workdir: Path) -> dict[str, Any]:
    kinds = ["ours", "minimal"] if opts.minimal is not None else ["ours"]
    print(f"== {strips} CloudTrax strips over {opts.networks} networks; {', '.join(kinds)}", flush=True)
    limit = strips * opts.latency / opts.concurrency
    interval = math.ceil(max(opts.min_interval, opts.interval_factor * limit + 0.3) * 10) / 10
    sims: dict[str, str] = {}
    networks: list[int] = []
    for kind in kinds:
        sims[kind], networks = start_simulator(children, f"sim-{kind}-{strips}", strips, opts)
    fleet = Fleet(strips, networks, interval, limit, sims, workdir)
    result: dict[str, Any] = {
        "strips": strips,
        "networks": len(networks),
        "interval_s": interval,
        "network_bound_limit_s": limit,
        "min_api_calls_per_cycle": fleet.minimum,
    }
    result["start_s"] = start_cell(children, fleet, kinds, opts)
    steady, running = steady_cell(children, fleet, kinds, opts)
    result["steady"] = steady
    try:
        if "minimal" in running:
            children.stop(running.pop("minimal").child)
        ours = running["ours"]
        result["gzip"] = gzip_cell(fetch_bodies(ours.url))
        if opts.prometheus_seconds > 0:
            result["prometheus"] = prometheus_cell(children, ours, fleet, opts)
    finally:
        for r in running.values():
            children.stop(r.child)
    return result


def machine() -> dict[str, Any]:
    model = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": os.getloadavg()[0],
    }


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sizes", default="1000,5000", help="CloudTrax fleet sizes (default 1000,5000)")
    p.add_argument("--networks", type=int, default=10, help="networks the strips are spread over (default 10)")
    p.add_argument("--latency", type=float, default=0.05, help="simulator latency in seconds (default 0.05)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight, both exporters (default 32)")
    p.add_argument(
        "--interval-factor", type=float, default=1.6, help="poll interval = factor x network-bound limit + 0.3 s"
    )
    p.add_argument("--min-interval", type=float, default=0.5, help="shortest poll interval in seconds")
    p.add_argument("--starts", type=int, default=3, help="starts of each exporter for the start cell (default 3)")
    p.add_argument("--warm", type=int, default=2, help="cycles before the steady window (default 2)")
    p.add_argument("--cycles", type=int, default=10, help="cycles in the steady window (default 10)")
    p.add_argument("--soak-cycles", type=int, default=60, help="cycles before RSS is read (default 60)")
    p.add_argument(
        "--soak-max-seconds", type=float, default=600.0, help="read RSS after this long if not there (default 600)"
    )
    p.add_argument(
        "--prometheus-seconds", type=float, default=300.0, help="the Prometheus cell's length (default 300; 0: skip)"
    )
    p.add_argument(
        "--minimal",
        default=str(DEFAULT_MINIMAL),
        help="the minimal exporter's script (default ../shared/perf/minimal_exporter.py beside the repository; "
        "'' to run ours alone)",
    )
    p.add_argument(
        "--ours-arg", action="append", default=[], help="an extra flag for our exporter (repeatable), e.g. a variant"
    )
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="output folder")
    p.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    a = p.parse_args(argv)
    minimal = Path(a.minimal).resolve() if a.minimal else None
    if minimal is not None and not minimal.is_file():
        p.error(f"--minimal: no such file: {minimal} (pass --minimal '' to run ours alone)")
    return Options(
        sizes=[int(s) for s in a.sizes.split(",") if s.strip()],
        networks=a.networks,
        latency=a.latency,
        concurrency=a.concurrency,
        interval_factor=a.interval_factor,
        min_interval=a.min_interval,
        starts=a.starts,
        warm=a.warm,
        cycles=a.cycles,
        soak_cycles=a.soak_cycles,
        soak_max_seconds=a.soak_max_seconds,
        prometheus_seconds=a.prometheus_seconds,
        minimal=minimal,
        ours_args=a.ours_arg,
        out=a.out,
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
        if opts.keep_logs:
            print(f"bench: logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    results["duration_s"] = time.time() - started
    json_path, md_path = write_results(results, opts.out)
    print(f"bench: wrote {json_path} and {md_path} ({results['duration_s'] / 60:.1f} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
