"""Fixtures for the ops tests (dashboards, rules, example wiring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ops import opslib
from tests.support.lanes import starts_processes


# Function-scoped: a test that runs the tool is a process test; a wider scope would make every test that
# uses the tool share one worker (tests/support/lanes.py), and finding the tool costs nothing.
@pytest.fixture
@starts_processes
def promtool() -> str:
    """Path to promtool; FAILS (does not skip) when it is missing."""
    return opslib.require_binary("promtool")


@pytest.fixture
@starts_processes
def amtool() -> str:
    """Path to amtool; FAILS (does not skip) when it is missing."""
    return opslib.require_binary("amtool")


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    return opslib.load_dashboards()


@pytest.fixture(scope="session")
def alert_rules() -> list[dict[str, Any]]:
    return opslib.alert_rules()


@pytest.fixture(scope="session")
def recording_rules() -> list[dict[str, Any]]:
    return opslib.recording_rules()


@pytest.fixture
def prometheus_copy(tmp_path: Path) -> Path:
    """A writable copy of prometheus/ for tests that break files on purpose."""
    dest = tmp_path / "prometheus"
    dest.mkdir()
    for src in opslib.PROMETHEUS_DIR.iterdir():
        if src.is_file():
            (dest / src.name).write_bytes(src.read_bytes())
    return dest
