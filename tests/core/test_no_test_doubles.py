"""The exporter's production path loads no simulator, demo, fake or request-ledger module.

Checked in a fresh interpreter, so nothing a test imported earlier can hide or fake the answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)

PROBE = """
import json, sys
import exporter.cli, exporter.daemon, exporter.runtime
from exporter.sources.registry import load_sources
exporter.cli.build_parser()
for source in load_sources().values():
    source.actions()
print(json.dumps(sorted(sys.modules)))
"""

FORBIDDEN_WORDS = ("powerstrip_sim", "simulator", "demo", "fake", "ledger")


def _loaded_modules(probe: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_daemon_and_every_source_load_no_test_double() -> None:
    modules = _loaded_modules(PROBE)
    ours = [m for m in modules if m.split(".")[0] in ("exporter", "powerstrip_sim")]
    assert "exporter.sources.cloudtrax.source" in ours and "exporter.sources.dli.source" in ours
    assert [m for m in ours if any(word in m for word in FORBIDDEN_WORDS)] == []


def test_the_probe_sees_a_simulator_when_one_is_imported() -> None:
    """The check above can fail: importing the simulator package shows up in the same probe."""
    modules = _loaded_modules(PROBE.replace("import json, sys", "import json, sys, powerstrip_sim.registry"))
    assert "powerstrip_sim.cloudtrax.app" in modules and "powerstrip_sim.dli.server" in modules
