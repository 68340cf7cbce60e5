"""State files: atomic, versioned, and an unusable file is one warning and a clean start."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from exporter.storage import (
    WRITE_OUTCOMES,
    DirectoryInUse,
    NotRegularFile,
    StateDirectory,
    StateFile,
    WriteOutcome,
    prepare_storage,
)


def identity(data: Any) -> Any:
    return data


def test_save_then_load_round_trips_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    state = StateFile(tmp_path, "thing", 3)
    assert state.load(identity) is None  # absent: a clean start, no warning needed
    assert state.save({"a": [1, 2.5]})
    assert state.load(identity) == {"a": [1, 2.5]}
    assert json.loads(state.path.read_text()) == {"kind": "thing", "version": 3, "data": {"a": [1, 2.5]}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.json"]


def test_a_crash_during_a_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateFile(tmp_path, "thing", 1)
    state.save({"old": True})

    def power_cut(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", power_cut)
    with capture_logs() as logs:
        assert not state.save({"new": True})
        assert not state.save({"new": True})
    assert state.load(identity) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.json"]
    assert [entry["event"] for entry in logs] == ["cannot write state file"]  # once, not per attempt


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"kind": "thing", "version": 1, "data": {"a"', "not JSON"),  # truncated
        (b"\x00\xff garbage", "not JSON"),
        (b"[1, 2, 3]", "not a thing state file"),
        (b'{"kind": "other", "version": 1, "data": {}}', "not a thing state file"),  # foreign
        (b'{"kind": "thing", "version": 2, "data": {}}', "format version 2"),  # newer exporter
        (b'{"kind": "thing", "version": 1, "data": "no"}', "invalid content"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_an_unusable_file_is_one_warning_and_a_clean_start(tmp_path: Path, content: bytes, why: str) -> None:
    def strict(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValueError("expected an object")
        return data

    state = StateFile(tmp_path, "thing", 1)
    state.path.write_bytes(content)
    with capture_logs() as logs:
        assert state.load(strict) is None
    assert len(logs) == 1
    assert logs[0]["log_level"] == "warning" and why in logs[0]["reason"]
    assert state.save({"fresh": 1}) and state.load(strict) == {"fresh": 1}


def test_prepare_storage_creates_the_directory_and_refuses_a_file(tmp_path: Path) -> None:
    assert prepare_storage(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        prepare_storage(tmp_path / "file")


def test_an_unusable_storage_path_stops_the_exporter_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    (tmp_path / "file").write_text("x")
    assert main(["--config.file", str(tmp_path / "none.yml"), "--storage.path", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("--storage.path ")


def test_a_state_directory_is_held_by_one_opener_at_a_time(tmp_path: Path) -> None:
    held = StateDirectory.open(tmp_path / "state")
    try:
        with pytest.raises(DirectoryInUse) as refused:
            StateDirectory.open(tmp_path / "state")
        assert refused.value.holder == os.getpid()
        assert f"PID {os.getpid()}" in str(refused.value.strerror)
    finally:
        held.close()
    StateDirectory.open(tmp_path / "state").close()  # released: the next one gets it


def test_a_lock_path_that_is_not_a_regular_file_refuses_the_directory(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "lock")
    with pytest.raises(NotRegularFile, match="FIFO"):
        StateDirectory.open(tmp_path)


def test_opening_removes_only_temporary_files_of_interrupted_writes(tmp_path: Path) -> None:
    orphan = tmp_path / ".thing.json.ab12cd_3.tmp"
    orphan.write_bytes(b"x" * 10)
    kept = [tmp_path / "thing.json", tmp_path / ".thing.json.tmp", tmp_path / "other.tmp", tmp_path / ".x.ABCDEFGH.tmp"]
    for path in kept:
        path.write_text("keep")
    with capture_logs() as logs:
        StateDirectory.open(tmp_path).close()
    assert not orphan.exists()
    assert all(path.exists() for path in kept)
    assert [(e["event"], e["files"], e["bytes"]) for e in logs] == [
        ("removed temporary files of interrupted writes", 1, 10)
    ]


@pytest.mark.parametrize("make", ["fifo", "directory", "symlink"])
def test_only_a_regular_file_is_read_and_opening_never_blocks(tmp_path: Path, make: str) -> None:
    state = StateFile(tmp_path, "thing", 1)
    if make == "fifo":
        os.mkfifo(state.path)  # opened for reading without a writer, this blocked forever
    elif make == "directory":
        state.path.mkdir()
    else:
        (tmp_path / "elsewhere.json").write_text('{"kind": "thing", "version": 1, "data": 1}')
        state.path.symlink_to(tmp_path / "elsewhere.json")
    with capture_logs() as logs:
        assert state.load(identity) is None
    assert len(logs) == 1 and "not a regular file" in logs[0]["reason"]


def test_write_outcomes_are_counted_per_kind(tmp_path: Path) -> None:
    state = StateFile(tmp_path, "outcome-probe", 1)
    assert WRITE_OUTCOMES.snapshot()["outcome-probe"] == WriteOutcome(0, None)
    state.path.mkdir()  # a directory where the file belongs: the rename fails
    assert not state.save({"a": 1}) and not state.save({"a": 1})
    assert WRITE_OUTCOMES.snapshot()["outcome-probe"] == WriteOutcome(2, False)
    state.path.rmdir()
    assert state.save({"a": 1})
    assert WRITE_OUTCOMES.snapshot()["outcome-probe"] == WriteOutcome(2, True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outcome-probe.json"]  # no temporary file left
