"""Child processes of the benchmark: started on 127.0.0.1, tracked by PID, always stopped.

Every child runs in its own session, so a Ctrl-C in the terminal reaches only the
harness; the harness then stops each child by its PID (SIGTERM, then SIGKILL after a
bounded wait). Every wait here is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """The environment of every child: this checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_for_lines(self, pattern: str, count: int, timeout: float) -> list[re.Match[str]]:
        """Wait until the child's output has `count` lines matching `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in (regex.search(line) for line in self.output().splitlines()) if m]
            if len(found) >= count:
                return found[:count]
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {count} lines like {pattern!r} in {timeout}s")
            time.sleep(0.05)


class Children:
    """Every process the harness started; `stop_all()` ends them by PID."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], niceness: int = 0) -> Child:
        """`niceness` > 0: the child runs at that lower CPU priority (see `SIMULATOR_NICENESS` in run.py)."""
        self.logdir.mkdir(parents=True, exist_ok=True)
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(),
                cwd=REPO,
                start_new_session=True,
                preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
            )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def python(self, name: str, *args: str, niceness: int = 0) -> Child:
        return self.start(name, [sys.executable, *args], niceness)

    def stop(self, child: Child, timeout: float = 10.0) -> int | None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.proc.wait(timeout=5)
        if child in self.children:
            self.children.remove(child)
        return child.proc.returncode

    def stop_all(self) -> None:
        for child in list(reversed(self.children)):
            try:
                self.stop(child, timeout=5.0)
            except Exception as err:  # keep stopping the others
                print(f"bench: could not stop {child.name} (pid {child.pid}): {err}", file=sys.stderr)


def proc_cpu_rss(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and resident set size in bytes, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, rss 24.
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss
