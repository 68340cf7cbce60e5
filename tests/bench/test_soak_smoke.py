"""A short run of the hostile soak (`bench/soak.py`), so it cannot rot. The half-minute is too short
to judge memory (that is the 30-minute run's job); it checks that the script runs the fakes beside
healthy targets, samples the process and reports what each target did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.procs import REPO, child_env
from tests.support.hostile_upstream import FAULTS

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)


@pytest.mark.timeout(240)
def test_a_short_soak_samples_the_process_and_reports_every_target(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "bench.soak", "--minutes", "0.5", "--warmup-minutes", "0.2"]
    cmd += ["--sample-seconds", "1", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=200, check=False)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "PASS" in done.stdout or "FAIL" in done.stdout

    r = json.loads(out.read_text())
    assert len(r["samples"]) >= 10 and r["samples_after_warmup"] >= 3
    assert all(s["rss_mb"] > 10 and s["fds"] > 0 and s["threads"] >= 1 for s in r["samples"])
    assert 10 < r["peak_rss_mb"] < 250
    assert r["scrapes"] >= 10 and r["scrape_errors"] == 0
    assert not r["secret_in_output"]
    assert set(r["faults"]) == {f.name for f in FAULTS}
    for name, fault in r["faults"].items():
        assert fault["as_expected"], (name, fault)
    for name, healthy in r["healthy"].items():
        assert healthy["polls"] > 0, name
