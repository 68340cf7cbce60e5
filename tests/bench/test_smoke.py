"""A tiny run of the benchmark harness, so it cannot rot. It checks structure and sanity, not speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import REPO, child_env

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)


@pytest.mark.timeout(300)
def test_a_tiny_benchmark_run_writes_sane_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench.run", "--sizes", "100", "--dli", "3", "--cycles", "3"]
    cmd += ["--soak-cycles", "3", "--scrape-seconds", "0.5", "--scrape-max-seconds", "1", "--open-rounds", "4"]
    cmd += ["--prometheus-seconds", "12", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((out / "latest.json").read_text())
    assert results["machine"]["cores"] >= 1
    [size] = results["sizes"]
    assert size["strips"] == 100 and size["networks"] == 10 and size["dli_devices"] == 3
    assert size["min_api_calls_per_cycle"] == 10 + 100 + 3 * 3
    for kind in ("ours", "gauges", "baseline"):
        m = size[kind]
        assert m["poll_cycle_s"] > 0 and m["first_cycle_s"] > 0
        assert m["cpu_s_per_cycle"] > 0 and m["cpu_ms_per_api_call"] > 0
        calls = m["api_calls_by_endpoint_per_cycle"]
        why = (kind, "exact" if m["api_calls_exact"] else "estimate", m["cycles_in_window"], calls)
        assert calls["cloudtrax GET /powerstrip/{powerstrip_id}"] == pytest.approx(100, abs=5), why
        assert calls["cloudtrax GET /powerstrip/network/{network_id}/list"] == pytest.approx(10, abs=1), why
        soak = m["soak"]
        assert soak["cycles"] >= 3 and 10 < soak["rss_mb_at_10"] < 2000 and soak["rss_mb_at_end"] > 10
    ours = size["ours"]
    for fmt in ("plain", "openmetrics", "gzip"):
        for cell in ("c1", "c10", "b1", "b10"):
            stats = ours["scrape"][fmt][cell]
            assert stats["n"] >= 1 and stats["errors"] == 0, (fmt, cell, stats)
            assert 0 < stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    sizes = ours["exposition_bytes"]
    assert sizes["gzip"] < sizes["plain"], "gzip bodies are compressed"
    assert sizes["plain"] > 100 * 1000, "every strip's series are in the body"
    for form in ("text", "om"):
        gz = ours["gzip_sizes"][form]
        assert gz["ours"] < gz["plain"] and 0.5 < gz["ratio"] < 2 and gz["ratio"] == gz["ours"] / gz["gzip6"]
    if shutil.which("nginx"):
        for fmt in ("plain", "gzip"):
            floor = ours["scrape"][fmt]["floor10"]
            assert floor["n"] >= 1 and floor["errors"] == 0, (fmt, floor)
            assert floor["bytes"] == pytest.approx(sizes[fmt], rel=0.05), "same bytes"
        if shutil.which("prometheus"):
            for job in ("ours", "floor", "floor-again"):
                scraped = ours["prometheus"][job]
                assert scraped["always_up"] and scraped["n"] >= 1 and scraped["median_ms"] > 0, (job, scraped)
    assert set(results["growth_exponents"]) >= {"cpu_s_per_cycle", "poll_cycle_s", "plain_bytes"}
    names = {t["target"] for t in results["targets"]}
    assert "CPU per API call, unscraped, ours / prometheus_client gauges" in names
    assert any(name.startswith("API calls per cycle") for name in names)
    for kind in ("ours", "gauges", "baseline"):
        calls, minimum = size[kind]["api_calls_per_cycle"], size["min_api_calls_per_cycle"]
        if size[kind]["api_calls_exact"]:  # idle instants at both ends of the window: whole polls only
            assert calls == pytest.approx(minimum, abs=1e-9), kind
        else:  # a slow machine left no idle instant: an estimate, still close
            assert calls == pytest.approx(minimum, rel=0.05), kind

    md = (out / "latest.md").read_text()
    assert "| figure | ours | gauges | scrape-time | ratio |" in md and "## 100 strips" in md
    assert "## Growth exponents" in md and "## Targets" in md
