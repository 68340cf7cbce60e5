"""The state directory (`--storage.path`) under faults, through real exporter processes.

One directory is held by one process: a second exporter refuses to start with one line naming the
directory and the holder's PID, and starts once the first is gone (stopped or killed). Temporary
files of writes killed before their rename are removed at start. A FIFO where the state file
belongs cannot hang start-up, and a write that fails shows on `/metrics`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import exporter_config
from tests.support.process import ExporterProcess, value

STATE = "cloudtrax-energy.json"
LAST_WRITE_OK = "powerstrip_exporter_state_last_write_successful"
WRITE_FAILURES = "powerstrip_exporter_state_write_failures_total"
KIND = "cloudtrax-energy"


def second_exporter(config: Path, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Start another exporter on the same directory and wait for it to give up (bounded)."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "exporter", "--config.file", str(config)),
            *("--storage.path", str(state_dir), "--web.listen-address", "127.0.0.1:0"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_a_second_exporter_on_one_directory_refuses_to_start_until_the_first_is_gone(
    tmp_path: Path, one_network: CloudTraxSimulator
) -> None:
    state_dir = tmp_path / "state"
    args = ["--storage.path", str(state_dir)]
    async with ExporterProcess(tmp_path, exporter_config(one_network), args=args) as first:
        await first.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="cloudtrax")
        assert first.proc is not None
        refused = await asyncio.to_thread(second_exporter, first.config_path, state_dir)
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith(f"--storage.path {state_dir}: in use by another exporter (PID {first.proc.pid})")
        assert (await first.metrics()) and first.proc.poll() is None  # the first one is undisturbed
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL

    # Killed, the first process still released its lock: a restart is never blocked by a stale one.
    async with ExporterProcess(tmp_path, exporter_config(one_network), args=args) as second:
        await second.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="cloudtrax")
        assert second.proc is not None
        assert (state_dir / "lock").read_text().strip() == str(second.proc.pid)


async def test_temporary_files_of_killed_writes_are_removed_at_start(
    tmp_path: Path, one_network: CloudTraxSimulator
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    orphans = []
    for _ in range(3):  # named exactly as a write names them
        fd, name = tempfile.mkstemp(prefix=f".{STATE}.", suffix=".tmp", dir=state_dir)
        os.write(fd, b"x" * 100_000)
        os.close(fd)
        orphans.append(Path(name))
    keep = [state_dir / "notes.tmp", state_dir / ".hidden", state_dir / f".{STATE}.tmp"]
    for path in keep:
        path.write_text("not ours")
    async with ExporterProcess(tmp_path, exporter_config(one_network), args=["--storage.path", str(state_dir)]) as exp:
        await exp.wait_for_sample(LAST_WRITE_OK, 1.0, kind=KIND)
        logs = exp.logs()
    assert not any(path.exists() for path in orphans)
    assert all(path.read_text() == "not ours" for path in keep)
    assert logs.count("removed temporary files of interrupted writes") == 1
    assert "files=3" in logs and "bytes=300000" in logs


async def test_a_fifo_at_the_state_path_cannot_hang_start_up(tmp_path: Path, one_network: CloudTraxSimulator) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    os.mkfifo(state_dir / STATE)
    async with ExporterProcess(tmp_path, exporter_config(one_network), args=["--storage.path", str(state_dir)]) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="cloudtrax")
        await exp.wait_for_sample(LAST_WRITE_OK, 1.0, kind=KIND)
        logs = exp.logs()
    assert logs.count("state file unusable") == 1 and "a FIFO, not a regular file" in logs
    assert (state_dir / STATE).is_file()  # the next save replaced it with a regular file


async def test_a_failing_write_shows_on_metrics_until_a_write_succeeds(
    tmp_path: Path, one_network: CloudTraxSimulator
) -> None:
    state_dir = tmp_path / "state"
    (state_dir / STATE).mkdir(parents=True)  # a directory where the file belongs: every write fails
    async with ExporterProcess(tmp_path, exporter_config(one_network), args=["--storage.path", str(state_dir)]) as exp:
        failing = await exp.wait_for_sample(LAST_WRITE_OK, 0.0, kind=KIND)
        assert (value(failing, WRITE_FAILURES, kind=KIND) or 0) >= 1
        assert exp.logs().count("cannot write state file") == 1

        (state_dir / STATE).rmdir()

        healed = await exp.wait_for_sample(LAST_WRITE_OK, 1.0, kind=KIND, timeout=30)
        assert (value(healed, WRITE_FAILURES, kind=KIND) or 0) >= 1  # a counter: the failures stay counted
        assert "state file written again" in exp.logs()
