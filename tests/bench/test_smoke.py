"""A tiny run of the benchmark harness, so it cannot rot. It checks structure and sanity, not speed. The
baseline here is a stand-in (`standin_minimal.py`): the smoke run needs nothing outside the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import REPO, child_env

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)
STANDIN = Path(__file__).with_name("standin_minimal.py")


@pytest.mark.timeout(300)
def test_a_tiny_benchmark_run_writes_sane_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench.run", "--sizes", "100", "--starts", "1", "--cycles", "3", "--soak-cycles", "6"]
    cmd += ["--prometheus-seconds", "12", "--minimal", str(STANDIN), "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((out / "latest.json").read_text())
    assert results["machine"]["cores"] >= 1
    [size] = results["sizes"]
    assert size["strips"] == 100 and size["networks"] == 10 and size["min_api_calls_per_cycle"] == 110
    for kind in ("ours", "minimal"):
        [start] = size["start_s"][kind]
        assert 0 < start < 120
        steady = size["steady"][kind]
        assert steady["cpu_ms_per_api_call"] > 0 and steady["api_calls"] > 0 and 10 < steady["rss_mb"] < 2000
        calls = steady["api_calls_by_endpoint_per_cycle"]
        why = (kind, "exact" if steady["api_calls_exact"] else "approximate", calls)
        assert calls["GET /powerstrip/{powerstrip_id}"] == pytest.approx(100, rel=0.1), why
        assert calls["GET /powerstrip/network/{network_id}/list"] == pytest.approx(10, rel=0.1), why
        if steady["api_calls_exact"]:  # idle instants at both ends of the window: whole polls only
            assert steady["api_calls_per_cycle"] == pytest.approx(110, abs=1e-9), kind
    for form in ("text", "om"):
        gz = size["gzip"][form]
        assert gz["ours"] < gz["plain"] and 0.5 < gz["ratio"] < 2 and gz["ratio"] == gz["ours"] / gz["gzip6"]
    if shutil.which("nginx") and shutil.which("prometheus"):
        for job in ("ours", "nginx", "nginx-again"):
            scraped = size["prometheus"][job]
            assert scraped["always_up"] and scraped["n"] >= 1 and scraped["median_ms"] > 0, (job, scraped)
        assert size["prometheus"]["ours"]["samples"] == size["prometheus"]["nginx"]["samples"], "the same bytes"
    goals = {t["figure"].split(" (")[0].split(",")[0] for t in results["targets"]}
    assert {"start to first full /metrics", "CPU per API call", "gzip body / `gzip -6` of its text"} <= goals

    md = (out / "latest.md").read_text()
    assert "| figure | ours | minimal | ours / minimal | target | met |" in md and "## 100 strips" in md
