"""Fixtures for the DLI source: simulators on loopback ports, targets, a steppable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from exporter.metrics.spec import SampleSet
from exporter.sources.api import PollSettings, SourceContext
from exporter.sources.dli.config import DliEntry
from exporter.sources.dli.source import DliTarget
from powerstrip_sim.dli import DliSimulator
from tests.support.clock import FakeClock

PASSWORD = "s3cr3t-Pa55w0rd"
"""Distinctive, so a leak into any message or log is easy to find."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ctx() -> SourceContext:
    return SourceContext("dli", 8)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


StartSim = Callable[..., Awaitable[DliSimulator]]


@pytest.fixture
def start_sim(stack: AsyncExitStack) -> StartSim:
    """Start a simulator (stopped at teardown); keyword arguments go to DliSimulator."""

    async def start(model: str = "pro", **kwargs: Any) -> DliSimulator:
        kwargs.setdefault("password", PASSWORD)
        return await stack.enter_async_context(DliSimulator(model, **kwargs))

    return start


MakeTarget = Callable[..., DliTarget]


@pytest.fixture
def make_target(stack: AsyncExitStack, ctx: SourceContext, clock: FakeClock) -> MakeTarget:
    """A DliTarget for a simulator; keyword arguments override entry keys (timeout= sets the poll timeout)."""

    def make(sim: DliSimulator, *, timeout: float = 5.0, name: str | None = None, **entry: Any) -> DliTarget:
        raw: dict[str, Any] = {
            "source": "dli",
            "name": name or f"dli-{sim.model}",
            "url": sim.url,
            "username": sim.username,
            "password": sim.password,
        }
        raw.update(entry)
        target = DliTarget(
            DliEntry.model_validate(raw),
            PollSettings(interval=max(timeout, 1.0), timeout=timeout, stale_after=60.0),
            ctx,
            clock=clock,
        )
        stack.push_async_callback(target.aclose)
        return target

    return make


@pytest.fixture
async def raw_session(stack: AsyncExitStack) -> Callable[..., aiohttp.ClientSession]:
    """Plain aiohttp sessions for poking the simulator directly (digest auth unless auth=None)."""

    def make(
        username: str = "admin", password: str = PASSWORD, *, auth: str | None = "digest", accept_json: bool = True
    ) -> aiohttp.ClientSession:
        middlewares = (aiohttp.DigestAuthMiddleware(username, password),) if auth == "digest" else ()
        headers = {"Accept": "application/json"} if accept_json else {}
        if auth == "basic":
            headers["Authorization"] = aiohttp.encode_basic_auth(username, password)
        session = aiohttp.ClientSession(middlewares=middlewares, headers=headers)
        stack.push_async_callback(session.close)
        return session

    return make


def by_family(samples: SampleSet) -> dict[str, dict[tuple[str, ...], float]]:
    """{metric name: {label values: value}} for exact comparisons."""
    return {fam.spec.name: dict(fam.samples) for fam in samples.families}
