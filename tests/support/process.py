"""Run the real `powerstrip-exporter` process on 127.0.0.1 and read it from async tests.

Everything here is async so a test can run simulators on the same event loop
while the exporter process polls them. Every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

MAX_CHECK_INTERVAL = 0.5
"""The longest pause between two checks of `ExporterProcess.wait_for` (the polls in tests run every second)."""

LOG_FILES: list[Path] = []
"""Every exporter log written during the session; checked for secrets when the session ends."""


_LOWEST_PORT = 10000
_handed_out: set[int] = set()
_random = random.Random()  # its own: a test that seeds `random` does not repeat the ports


def _port_slice() -> range:
    """This process's own ports: below the kernel's ephemeral range, split between the xdist workers.

    Below the ephemeral range, no outgoing connection (which takes its local port from that range) can
    take the port between `free_port()` and the child process's bind; and each worker has a slice of
    its own, so two workers never hand out the same port.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (low - _LOWEST_PORT) // max(workers, 1)
    return range(_LOWEST_PORT + worker * size, _LOWEST_PORT + (worker + 1) * size)


def free_port() -> int:
    """A loopback port that nothing listens on and that this session has not handed out before."""
    ports = _port_slice()
    if len(ports) < 100:  # an unusual ephemeral range: let the kernel choose
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    if len(_handed_out) > len(ports) // 2:
        _handed_out.clear()
    for _ in range(len(ports)):
        port = _random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise AssertionError(f"no free loopback port in {ports}")


def parse_metrics(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def find(samples: Samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """All samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return [(dict(lbls), v) for (n, lbls), v in samples.items() if n == name and want <= lbls]


def value(samples: Samples, name: str, **labels: str) -> float | None:
    hits = find(samples, name, **labels)
    if len(hits) > 1:
        raise AssertionError(f"{name}{labels} matches {len(hits)} series")
    return hits[0][1] if hits else None


class ExporterProcess:
    """`async with ExporterProcess(tmp_path, config_yaml) as exp:` then `await exp.metrics()`."""

    def __init__(
        self,
        workdir: Path,
        config_text: str,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        wait_healthy: bool = True,
        cwd: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.cwd = cwd
        """The process's working directory (None: the test's)."""
        self.config_path = workdir / "config.yml"
        self.config_path.write_text(config_text, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.wait_healthy = wait_healthy
        self.stderr_path = workdir / f"exporter-{self.port}.log"
        LOG_FILES.append(self.stderr_path)
        self.proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(self.config_path),
            "--web.listen-address",
            f"127.0.0.1:{self.port}",
            "--log.level",
            "debug",
            *self.args,
        ]

    async def __aenter__(self) -> ExporterProcess:
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            self.command(), stdout=self._stderr, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd
        )
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        if self.wait_healthy:
            await self.wait_for(self._healthy, timeout=20, what="exporter /-/healthy")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"exporter exited with {self.proc.returncode}:\n{self.logs()}")
        try:
            status, _ = await self.get("/-/healthy")
        except aiohttp.ClientError:
            return False
        return status == 200

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process and wait (bounded) for it; returns the exit code."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._stderr.close()
        return self.proc.returncode

    def logs(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, str]:
        assert self._session is not None, "use `async with`"
        async with self._session.request(method, self.url + path, **kw) as resp:
            return resp.status, await resp.text()

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> tuple[int, str]:
        return await self.request("POST", path, **kw)

    async def metrics_text(self) -> str:
        status, text = await self.get("/metrics")
        assert status == 200, text
        return text

    async def metrics(self) -> Samples:
        return parse_metrics(await self.metrics_text())

    async def wait_for(
        self,
        predicate: Callable[[], Awaitable[bool]],
        *,
        timeout: float = 20.0,
        interval: float = 0.1,
        what: str = "condition",
    ) -> None:
        """Await `predicate` until true; fail after `timeout` seconds (bounded loop).

        The pause between checks starts at `interval` and grows to `MAX_CHECK_INTERVAL`: most conditions
        hold within a poll or two, and a long wait should not scrape and parse `/metrics` ten times a
        second on a machine that other tests share.
        """
        deadline = time.monotonic() + timeout
        pause = interval
        for _ in range(int(timeout / interval) + 1):
            if await predicate():
                return
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, max(interval, MAX_CHECK_INTERVAL))
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}\n--- exporter log ---\n{self.logs()[-4000:]}"
        )

    async def wait_for_sample(
        self, name: str, expected: float | None = None, *, timeout: float = 20.0, **labels: str
    ) -> Samples:
        """Wait until `name{labels}` exists (and equals `expected` if given); return that scrape."""
        latest: Samples = {}

        async def check() -> bool:
            nonlocal latest
            latest = await self.metrics()
            got = value(latest, name, **labels)
            return got is not None and (expected is None or got == expected)

        await self.wait_for(check, timeout=timeout, what=f"{name}{labels} == {expected}")
        return latest
