"""State that outlives the process: one versioned JSON file per kind, under `--storage.path`.

A file is written atomically (temporary file in the same directory, fsync, `os.replace`, then
fsync of the directory), so a crash or power cut leaves either the old or the new state, never
half of one. A file that cannot be read as this kind at this version (corrupt, truncated,
foreign, from a newer exporter) is reported with one warning and treated as absent: the caller
starts clean rather than crashing or trusting it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("exporter.storage")

T = TypeVar("T")

MAX_STATE_BYTES = 64 * 1024 * 1024
"""A state file larger than this is not read (it is not one this exporter wrote for any sane fleet)."""


class StateFile:
    """One kind of state, e.g. `cloudtrax-energy`, as `<dir>/<kind>.json` with a format version."""

    def __init__(self, directory: Path, kind: str, version: int) -> None:
        self.path = directory / f"{kind}.json"
        self.kind = kind
        self.version = version
        self._write_lock = threading.Lock()
        self._write_failing = False

    def load(self, parse: Callable[[Any], T]) -> T | None:
        """The stored data passed through `parse`, or None (absent, or unusable: one warning)."""
        try:
            with self.path.open("rb") as f:
                raw = f.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as err:
            return self._unusable(f"cannot read it: {err.strerror or err}")
        if len(raw) > MAX_STATE_BYTES:
            return self._unusable(f"larger than {MAX_STATE_BYTES} bytes")
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            return self._unusable("not JSON (corrupt or truncated)")
        if not isinstance(document, dict) or document.get("kind") != self.kind:
            return self._unusable(f"not a {self.kind} state file")
        if document.get("version") != self.version:
            return self._unusable(f"format version {document.get('version')!r}, this exporter reads {self.version}")
        try:
            return parse(document.get("data"))
        except (ValueError, TypeError, KeyError) as err:
            return self._unusable(f"invalid content: {str(err).splitlines()[0][:200]}")

    def _unusable(self, why: str) -> T | None:
        log.warning("state file unusable, starting clean", file=str(self.path), reason=why)
        return None

    def save(self, data: Any) -> bool:
        """Write atomically; thread-safe. Returns False (logged once per change of outcome) on failure."""
        body = json.dumps(
            {"kind": self.kind, "version": self.version, "data": data}, separators=(",", ":"), allow_nan=False
        ).encode()
        with self._write_lock:
            try:
                _write_atomically(self.path, body)
            except OSError as err:
                if not self._write_failing:
                    log.warning("cannot write state file", file=str(self.path), error=err.strerror or str(err))
                self._write_failing = True
                return False
            if self._write_failing:
                log.info("state file written again", file=str(self.path))
            self._write_failing = False
            return True


def _write_atomically(path: Path, body: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # the rename is done; a directory that cannot be opened cannot be fsynced either
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def prepare_storage(path: str | Path) -> Path:
    """Create the storage directory if needed; raises OSError (or NotADirectoryError) when unusable."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable")
    return directory
