"""Fixtures for core tests: the fake source, configs and an in-process daemon on a real socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from exporter.daemon import Daemon
from exporter.web.app import build_app
from tests.core import fake_source
from tests.core.fake_source import FakeSource
from tests.support.process import Samples, parse_metrics

SOURCES = {"fake": FakeSource}


@pytest.fixture(autouse=True)
def _fresh_scripts() -> Iterator[None]:
    fake_source.SCRIPTS.clear()
    fake_source.DISCOVERY_ERRORS.clear()
    fake_source.FLEET.update(in_flight=0, peak=0)
    fake_source.ACTION_CALLS.clear()
    fake_source.ACTION_SCRIPT.error = None
    fake_source.ACTION_SCRIPT.hang = False
    yield
    fake_source.SCRIPTS.clear()
    fake_source.DISCOVERY_ERRORS.clear()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Bounded wait on an in-process condition."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.01) + 1):
        if predicate():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class LiveDaemon:
    """A Daemon and its aiohttp app served on 127.0.0.1 with a client session."""

    def __init__(self, daemon: Daemon, url: str, session: aiohttp.ClientSession) -> None:
        self.daemon = daemon
        self.url = url
        self.session = session

    async def get(self, path: str, **kw: object) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        async with self.session.get(self.url + path, **kw) as resp:  # type: ignore[arg-type]
            return resp.status, await resp.text(), resp.headers

    async def post(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.session.post(self.url + path, headers=headers) as resp:
            return resp.status, await resp.text()

    async def metrics(self) -> Samples:
        """The plain /metrics of the state at the call: a scrape gets the newest body at once, which may
        still lack the last changes while their build runs, so wait for that build first."""
        version = self.daemon.changes.version
        for _ in range(1000):  # bounded: 10 s
            body = self.daemon.bodies.newest(False)
            if body is None or body.version >= version:
                break
            await asyncio.sleep(0.01)
        status, text, _ = await self.get("/metrics")
        assert status == 200
        return parse_metrics(text)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[LiveDaemon]]]:
    """`await live(config_yaml)` starts a daemon on a free loopback port, with `--web.enable-lifecycle`
    unless `lifecycle=False`."""
    started: list[tuple[Daemon, web.AppRunner, aiohttp.ClientSession]] = []

    async def start(config_text: str, *, lifecycle: bool = True) -> LiveDaemon:
        path = tmp_path / "config.yml"
        path.write_text(config_text)
        daemon = Daemon(path, SOURCES)
        await daemon.start()
        runner = web.AppRunner(build_app(daemon, enable_lifecycle=lifecycle))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        session = aiohttp.ClientSession()
        started.append((daemon, runner, session))
        return LiveDaemon(daemon, f"http://127.0.0.1:{port}", session)

    yield start
    for daemon, runner, session in started:
        await session.close()
        await daemon.stop()
        await runner.cleanup()
