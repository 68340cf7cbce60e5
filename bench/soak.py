"""Soak: the real exporter polls every hostile-upstream fault beside healthy simulators for a while.

    python -m bench.soak --minutes 30 --warmup-minutes 5

Samples the exporter's RSS, open fds and threads at random intervals averaging `--sample-seconds`,
scrapes `/metrics` as Prometheus would, and after the warm-up checks that RSS stays within ±5 % of its median (each
minute's median RSS; a single sample can fall inside one big answer's read, whose memory is
transient and bounded by the read cap), that fds and threads do not grow (the smallest count of the
last third of the window is no larger than that of the first third: a leaked fd raises every later
sample, a connection in flight only the one it falls in), and peak RSS stays under the hostile
suite's bound. Connections the exporter opened to upstreams are told apart (by local port) and
judged on their own: its pools keep as many alive as requests ran at once, so they may step up and
stay; they must stay within what the pools can hold, and none the peer closed may stay unreleased.
It also checks that the healthy targets never failed and that each fault target ends down with its
reason (or up, for the usable answers). Prints the figures, writes them as JSON with `--out`, and
exits 1 if a check fails. Not part of the test suite (a short smoke run is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DliSimulator
from tests.support.hostile_upstream import FAULTS, SECRETS, Fault, HostileUpstream, fault_targets, target_of
from tests.support.process import ExporterProcess, find, parse_metrics, value

HEALTHY_DLI = 3
CT_KEY = "50a4" * 16
CT_SECRET = "50a5" * 16
CT_NETWORK = 12345
DLI_PASSWORD = "Soak-Dli-Pa55-w1"
SOURCE_SLOTS = {"dli": 16, "cloudtrax": 32}
"""`max_concurrent_requests` per source in the soak's config (the defaults, written out)."""
RSS_BAND = 0.05
PEAK_RSS_MB = 250
"""The hostile suite's bound on peak RSS (VmHWM), held for the whole soak."""


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    """Open fds other than connections to upstreams: files, listeners, accepted connections."""
    threads: int
    upstream: int = 0
    """Connections the exporter opened to upstreams. Its connection pools keep them alive, as many per
    target as requests ran at once, so a pool may grow by one or two at any time: they are judged
    against what the pools can hold (`pool_bound`), not for flatness."""
    closing: int = 0
    """Of those, the ones the upstream has closed and the exporter has not (CLOSE_WAIT): a connection
    that is never released stays here, so these must not grow."""


_CLOSE_WAIT = "08"
"""The TCP state's code in /proc/net/tcp."""


def _sockets() -> dict[str, tuple[int, str]]:
    """Every TCP socket on the machine by inode: its local port and state."""
    out: dict[str, tuple[int, str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                out[fields[9]] = (int(fields[1].rsplit(":", 1)[1], 16), fields[3])
    return out


def read_proc(pid: int, listen_port: int | None = None) -> tuple[Sample, float]:
    """A sample of `pid` (at t=0) and its peak RSS (MB). With `listen_port`, a TCP socket with another
    local port is one the process opened to an upstream."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0]) / 1024
    hwm = int(fields["VmHWM"].split()[0]) / 1024
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            links.append(os.readlink(fd))
    sockets = _sockets() if listen_port is not None else {}
    opened = [sockets[link[8:-1]] for link in links if link[8:-1] in sockets and link.startswith("socket:[")]
    upstream = [state for port, state in opened if port != listen_port]
    closing = sum(1 for state in upstream if state == _CLOSE_WAIT)
    sample = Sample(0.0, rss, len(links) - len(upstream), int(fields["Threads"]), len(upstream), closing)
    return sample, hwm


def pool_bound(config: dict[str, Any]) -> int:
    """The most connections the exporter's pools can hold: a target's pool no more than the requests its
    source lets run at once (`sources.<name>.max_concurrent_requests`)."""
    slots = {name: entry["max_concurrent_requests"] for name, entry in config["sources"].items()}
    return sum(slots[target["source"]] for target in config["targets"])


def flat(values: list[int]) -> bool:
    """No growth: the smallest count of the last third is no larger than that of the first third.
    A leak raises every sample after it, so it raises the floor; one in flight raises one sample."""
    third = max(1, len(values) // 3)
    return min(values[-third:]) <= min(values[:third])


MIN_SAMPLES_PER_MINUTE = 3
"""A minute with fewer samples (cut by the warm-up or the end) joins the minute before it: one sample
must not be judged alone."""


def minute_medians(samples: list[Sample]) -> list[float]:
    """The median RSS of each minute of `samples`, in order."""
    minutes: dict[int, list[float]] = {}
    for s in samples:
        minutes.setdefault(int(s.t // 60), []).append(s.rss_mb)
    groups: list[list[float]] = []
    for _, rss in sorted(minutes.items()):
        if groups and (len(rss) < MIN_SAMPLES_PER_MINUTE or len(groups[-1]) < MIN_SAMPLES_PER_MINUTE):
            groups[-1].extend(rss)
        else:
            groups.append(list(rss))
    return [statistics.median(rss) for rss in groups]


def analyse(samples: list[Sample], warmup_s: float, upstream_bound: int | None = None) -> dict[str, Any]:
    steady = [s for s in samples if s.t >= warmup_s]
    if len(steady) < 3:
        raise SystemExit("too few samples after the warm-up; run longer or sample more often")
    rss = [s.rss_mb for s in steady]
    median = statistics.median(rss)
    per_minute = minute_medians(steady)
    fds = [s.fds for s in steady]
    upstream = [s.upstream for s in steady]
    closing = [s.closing for s in steady]
    threads = [s.threads for s in steady]
    return {
        "samples_after_warmup": len(steady),
        "rss_mb": {"median": median, "min": min(rss), "max": max(rss), "first": rss[0], "last": rss[-1]},
        "rss_minute_medians_mb": per_minute,
        "rss_max_deviation_pct": 100 * max(abs(r - median) for r in per_minute) / median,
        "rss_sample_max_deviation_pct": 100 * max(abs(r - median) for r in rss) / median,
        "rss_within_band": all(abs(r - median) <= RSS_BAND * median for r in per_minute),
        "fds": {"min": min(fds), "max": max(fds), "first": fds[0], "last": fds[-1]},
        "fds_flat": flat(fds),
        "upstream": {"min": min(upstream), "max": max(upstream), "bound": upstream_bound},
        "upstream_bounded": upstream_bound is None or max(upstream) <= upstream_bound,
        "closing": {"min": min(closing), "max": max(closing)},
        "closing_flat": flat(closing),
        "threads": {"min": min(threads), "max": max(threads), "first": threads[0], "last": threads[-1]},
        "threads_flat": flat(threads),
    }


async def soak(
    minutes: float, warmup_minutes: float, sample_seconds: float, workdir: Path, faults: tuple[Fault, ...] = FAULTS
) -> dict[str, Any]:
    duration, warmup = minutes * 60, warmup_minutes * 60
    async with AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(HostileUpstream())
        dlis = [
            await stack.enter_async_context(DliSimulator(model, password=DLI_PASSWORD))
            for model in ("epcr", "din4", "pro")[:HEALTHY_DLI]
        ]
        ct = await stack.enter_async_context(
            CloudTraxSimulator(seed_payloads=True, key=CT_KEY, secret=CT_SECRET, strips=10, networks=1)
        )
        healthy = [("dli", f"healthy{i}") for i in range(len(dlis))] + [("cloudtrax", str(CT_NETWORK))]
        config = {
            "global": {"interval": "2s", "timeout": "2s", "backoff_max": "4s", "jitter": 0},
            "sources": {name: {"max_concurrent_requests": n} for name, n in SOURCE_SLOTS.items()},
            "targets": [
                *(
                    {
                        "source": "dli",
                        "name": f"healthy{i}",
                        "url": d.url,
                        "username": "admin",
                        "password": DLI_PASSWORD,
                    }
                    for i, d in enumerate(dlis)
                ),
                {"source": "cloudtrax", "name": "healthy_ct", "key": CT_KEY, "secret": CT_SECRET}
                | {"base_url": ct.url, "networks": [CT_NETWORK], "usage_interval": "10s", "settings_interval": "10s"},
                *fault_targets(upstream, faults),
            ],
        }
        exp = await stack.enter_async_context(
            ExporterProcess(workdir, yaml.safe_dump(config), args=["--log.level", "info"])
        )
        assert exp.proc is not None
        pid = exp.proc.pid
        samples: list[Sample] = []
        scrapes = scrape_errors = 0
        # Random intervals averaging sample_seconds, not a fixed period: a fault target whose polls
        # repeat at about the sampling period (big_body's 8 MiB reads, every 4 s back-off plus the
        # read) was otherwise caught in the same phase sample after sample, and a minute of samples
        # inside its reads looked like a plateau of RSS that then went away.
        pace = random.Random(0)
        start = time.monotonic()
        next_report = 60.0
        while (elapsed := time.monotonic() - start) < duration:
            sample = read_proc(pid, exp.port)[0]
            sample.t = round(elapsed, 1)
            samples.append(sample)
            try:
                await exp.metrics_text()
                scrapes += 1
            except (AssertionError, OSError, TimeoutError, aiohttp.ClientError):
                scrape_errors += 1
            if elapsed >= next_report:
                print(
                    f"  {elapsed / 60:5.1f} min: RSS {sample.rss_mb:.1f} MB, {sample.fds} fds and "
                    f"{sample.upstream} upstream connections, {sample.threads} threads",
                    flush=True,
                )
                next_report += 60.0
            await asyncio.sleep(pace.uniform(0.5, 1.5) * sample_seconds)
        final_text = await exp.metrics_text()
        final = parse_metrics(final_text)
        hwm = read_proc(pid)[1]
        tracebacks = exp.logs().count("Traceback")
        secrets_seen = any(
            secret in exp.logs() or secret in final_text for secret in (*SECRETS, DLI_PASSWORD, CT_SECRET)
        )
        log_lines = len(exp.logs().splitlines())

    health = {}
    for source, target in healthy:
        failed = sum(v for _, v in find(final, "powerstrip_exporter_target_poll_failures_total", target=target))
        polls = value(final, "powerstrip_exporter_target_polls_total", source=source, target=target) or 0.0
        health[f"{source}/{target}"] = {"polls": polls, "failures": failed}
    outcomes = {}
    for fault in faults:
        target = target_of(fault)
        up = value(final, "powerstrip_exporter_target_up", source=fault.vendor, target=target)
        by_reason = {
            lbls["reason"]: v
            for lbls, v in find(final, "powerstrip_exporter_target_poll_failures_total", target=target)
            if v
        }
        as_expected = (
            (up == 1 and not by_reason) if fault.reason is None else (up == 0 and set(by_reason) == {fault.reason})
        )
        outcomes[fault.name] = {"up": up, "failures": by_reason, "as_expected": as_expected}

    result = analyse(samples, warmup, pool_bound(config))
    result |= {
        "minutes": minutes,
        "warmup_minutes": warmup_minutes,
        "peak_rss_mb": hwm,
        "scrapes": scrapes,
        "scrape_errors": scrape_errors,
        "log_lines": log_lines,
        "tracebacks_in_log": tracebacks,
        "secret_in_output": secrets_seen,
        "healthy": health,
        "faults": outcomes,
        "samples": [asdict(s) for s in samples],
    }
    return result


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [
        (
            f"RSS each minute within ±5 % of its median after warm-up (max {r['rss_max_deviation_pct']:.1f} %;"
            f" single samples {r['rss_sample_max_deviation_pct']:.1f} %)",
            r["rss_within_band"],
        ),
        (f"peak RSS under {PEAK_RSS_MB} MB ({r['peak_rss_mb']:.1f})", r["peak_rss_mb"] < PEAK_RSS_MB),
        (f"fds other than upstream connections flat ({r['fds']['min']}-{r['fds']['max']})", r["fds_flat"]),
        (
            f"upstream connections within what the pools hold ({r['upstream']['min']}-{r['upstream']['max']}, "
            f"bound {r['upstream']['bound']})",
            r["upstream_bounded"],
        ),
        (
            f"upstream connections closed by the peer released ({r['closing']['min']}-{r['closing']['max']} "
            "in CLOSE_WAIT, flat)",
            r["closing_flat"],
        ),
        (f"threads flat ({r['threads']['min']}-{r['threads']['max']})", r["threads_flat"]),
        ("healthy targets never failed", all(h["failures"] == 0 and h["polls"] > 0 for h in r["healthy"].values())),
        ("every scrape answered", r["scrape_errors"] == 0),
        ("no secret in the log or /metrics", not r["secret_in_output"]),
        (
            "every fault target down with its reason",
            all(f["as_expected"] for f in r["faults"].values()),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="length of the soak (default 30)")
    p.add_argument("--warmup-minutes", type=float, default=5.0, help="left out of the checks (default 5)")
    p.add_argument(
        "--sample-seconds", type=float, default=5.0, help="mean seconds between samples, drawn at random (default 5)"
    )
    p.add_argument("--out", type=Path, help="write the figures and every sample as JSON here")
    p.add_argument(
        "--skip", action="append", default=[], choices=[f.name for f in FAULTS], help="leave a fault out (repeatable)"
    )
    a = p.parse_args(argv)
    faults = tuple(f for f in FAULTS if f.name not in a.skip)
    if a.warmup_minutes >= a.minutes:
        p.error("--warmup-minutes must be shorter than --minutes")
    print(
        f"soak: {len(faults)} hostile targets beside {HEALTHY_DLI + 1} healthy ones for {a.minutes:g} min", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        r = asyncio.run(soak(a.minutes, a.warmup_minutes, a.sample_seconds, Path(tmp), faults))
    if a.out is not None:
        a.out.write_text(json.dumps(r, indent=1))
    rss = r["rss_mb"]
    print(
        f"after {a.warmup_minutes:g} min warm-up ({r['samples_after_warmup']} samples): "
        f"RSS median {rss['median']:.1f} MB (min {rss['min']:.1f}, max {rss['max']:.1f}, "
        f"first {rss['first']:.1f}, last {rss['last']:.1f}); peak RSS {r['peak_rss_mb']:.1f} MB"
    )
    print(f"fds {r['fds']}; upstream connections {r['upstream']}; threads {r['threads']}")
    print(
        f"{r['scrapes']} scrapes, {r['scrape_errors']} errors; "
        f"{r['log_lines']} log lines, {r['tracebacks_in_log']} tracebacks"
    )
    for name, h in r["healthy"].items():
        print(f"  healthy {name}: {h['polls']:.0f} polls, {h['failures']:.0f} failures")
    for name, f in r["faults"].items():
        note = "" if f["as_expected"] else "  UNEXPECTED"
        print(f"  fault {name}: up={f['up']:.0f} failures={f['failures']}{note}")
    ok = True
    for text, passed in verdicts(r):
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
