"""The real exporter process with the fake source registered (`tests/core/fake_main.py`), for process tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.process import ExporterProcess

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(ROOT)}
GOOD = """\
global: {interval: 100ms, timeout: 100ms, jitter: 0}
targets:
- {source: fake, name: a, devices: 2}
"""


class FakeExporter(ExporterProcess):
    """The exporter CLI with the fake source registered."""

    def command(self) -> list[str]:
        cmd = super().command()
        return [sys.executable, "-m", "tests.core.fake_main", *cmd[3:]]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.core.fake_main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
        cwd=cwd,
    )


async def exited(exp: ExporterProcess) -> bool:
    return exp.proc is not None and exp.proc.poll() is not None
