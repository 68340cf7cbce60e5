"""State that outlives the process: one versioned JSON file per kind, under `--storage.path`.

A file is written atomically (temporary file in the same directory, fsync, `os.replace`, then
fsync of the directory), so a crash or power cut leaves either the old or the new state, never
half of one. A file that cannot be read as this kind at this version (corrupt, truncated,
foreign, from a newer exporter, not a regular file) is reported with one warning and treated as
absent: the caller starts clean rather than crashing, hanging or trusting it.

The directory itself is held by one process at a time (`StateDirectory`): two exporters writing
one file would each overwrite the other's state without either noticing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("exporter.storage")

T = TypeVar("T")

MAX_STATE_BYTES = 64 * 1024 * 1024
"""A state file larger than this is not read (it is not one this exporter wrote for any sane fleet)."""

LOCK_NAME = "lock"
"""The file in the state directory whose exclusive lock a running exporter holds (it names the holder's PID)."""

_ORPHAN = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
"""The temporary files `_write_atomically` makes (`.<name>.XXXXXXXX.tmp`): one left behind is a write
that was killed before its rename, never state."""


class NotRegularFile(OSError):
    """Something other than a regular file (FIFO, directory, device, symlink) where state belongs."""


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """A descriptor of the regular file at `path`, opened without blocking or following a symlink."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "a symbolic link, not a regular file") from None
        if err.errno == errno.EISDIR:
            raise NotRegularFile(errno.EISDIR, "a directory, not a regular file") from None
        raise
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, f"{_file_type(kind)}, not a regular file")
    return fd


# -- write outcomes, for the exporter's own metrics ----------------------------------


@dataclass
class WriteOutcome:
    """Every write of one kind of state in this process: failures so far, and whether the last worked."""

    failures: int = 0
    last_ok: bool | None = None
    """None until the first write."""


class _WriteOutcomes:
    """Process-wide, thread-safe (writes run in worker threads); read by the metrics layer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, WriteOutcome] = {}

    def register(self, kind: str) -> None:
        with self._lock:
            self._kinds.setdefault(kind, WriteOutcome())

    def record(self, kind: str, ok: bool) -> None:
        with self._lock:
            outcome = self._kinds.setdefault(kind, WriteOutcome())
            outcome.last_ok = ok
            if not ok:
                outcome.failures += 1

    def snapshot(self) -> Mapping[str, WriteOutcome]:
        with self._lock:
            return {kind: WriteOutcome(o.failures, o.last_ok) for kind, o in self._kinds.items()}


WRITE_OUTCOMES = _WriteOutcomes()
"""Kinds of state files this process has, with the outcome of their writes."""


class StateFile:
    """One kind of state, e.g. `cloudtrax-energy`, as `<dir>/<kind>.json` with a format version."""

    def __init__(self, directory: Path, kind: str, version: int) -> None:
        self.path = directory / f"{kind}.json"
        self.kind = kind
        self.version = version
        self._write_lock = threading.Lock()
        self._write_failing = False
        WRITE_OUTCOMES.register(kind)

    def load(self, parse: Callable[[Any], T]) -> T | None:
        """The stored data passed through `parse`, or None (absent, or unusable: one warning)."""
        try:
            raw = _read_regular(self.path, MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except NotRegularFile as err:
            return self._unusable(err.strerror or str(err))
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
        """Write atomically; thread-safe. Returns False (logged once per change of outcome, and counted
        in `WRITE_OUTCOMES`) on failure."""
        body = json.dumps(
            {"kind": self.kind, "version": self.version, "data": data}, separators=(",", ":"), allow_nan=False
        ).encode()
        with self._write_lock:
            try:
                _write_atomically(self.path, body)
            except OSError as err:
                WRITE_OUTCOMES.record(self.kind, False)
                if not self._write_failing:
                    log.warning("cannot write state file", file=str(self.path), error=err.strerror or str(err))
                self._write_failing = True
                return False
            WRITE_OUTCOMES.record(self.kind, True)
            if self._write_failing:
                log.info("state file written again", file=str(self.path))
            self._write_failing = False
            return True


def _read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of the regular file at `path` (NotRegularFile for anything else)."""
    fd = _open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


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
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
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


class DirectoryInUse(OSError):
    """Another process holds the state directory's lock."""

    def __init__(self, directory: Path, holder: int | None) -> None:
        who = f"another exporter (PID {holder})" if holder is not None else "another exporter"
        super().__init__(
            errno.EWOULDBLOCK,
            f"in use by {who}; two exporters on one state directory would overwrite each other's state",
        )
        self.directory = directory
        self.holder = holder


class StateDirectory:
    """`--storage.path`, held for the life of the process by an exclusive lock on `<dir>/lock`.

    The kernel drops the lock when the process ends however it ends (even SIGKILL), so a stale
    lock file never blocks a restart; the PID in it only names the holder in the error.
    """

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def open(cls, path: str | Path) -> StateDirectory:
        """Create, lock and tidy the directory; raises `DirectoryInUse`, or OSError when unusable."""
        directory = prepare_storage(path)
        fd = _open_regular(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DirectoryInUse(directory, holder) from None
        except OSError:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the lock holds without the PID; it only makes the other process's error clearer
        remove_orphans(directory)
        return cls(directory, fd)

    def close(self) -> None:
        """Release the lock (the process ending releases it too)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def remove_orphans(directory: Path) -> None:
    """Delete the temporary files of writes that were killed before their rename (call with the lock held)."""
    removed, size = 0, 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not _ORPHAN.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed += 1
        size += info.st_size
    if removed:
        log.info("removed temporary files of interrupted writes", directory=str(directory), files=removed, bytes=size)
