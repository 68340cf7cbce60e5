"""The contract between the vendor-neutral core and a vendor source package.

A source (one package under `exporter.sources`) turns each config entry of
its kind into a `TargetGroup`. A group yields `Target`s, and each target is
polled by the engine on its own schedule. The core never imports a vendor
module directly; it goes through `exporter.sources.registry`.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, overload

from exporter.config.types import DEFAULT_MAX_ITEMS, DEFAULT_SAMPLE_LIMIT, PollSettings
from exporter.metrics.reasons import PollFailureReason
from exporter.metrics.spec import MetricSpec, SampleSet

# Re-exported: a target's schedule and limits are part of the source contract.
__all__ = ["DEFAULT_MAX_ITEMS", "DEFAULT_SAMPLE_LIMIT", "PollSettings"]

if TYPE_CHECKING:
    from exporter.config.types import TargetEntry
    from exporter.sources.action_api import ActionSpec


class PollError(Exception):
    """A poll or an upstream call failed for a reason the engine counts; the message names the cause.

    `status` is the upstream HTTP status when an answer arrived (the action API reports it);
    `retry_after` the seconds the upstream asked to wait. Messages must never contain secrets:
    they reach logs and the landing page.
    """

    def __init__(
        self,
        reason: PollFailureReason,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: PollFailureReason = reason
        self.status = status
        self.retry_after = retry_after


class ApiObserver(Protocol):
    def observe_api_request(self, source: str, endpoint: str, seconds: float) -> None: ...


class PollClock:
    """Keeps a poll's timeout from running while the poll only waits for the source's shared request slots.

    Targets of one source share `max_concurrent_requests`. When many are due at once (all networks
    of a large account at start-up), a target's requests can queue behind the others' for longer
    than its timeout, through no fault of the API. While every request the poll has issued is still
    queued and none is in flight, its timeout is suspended; the time counts again once one runs.
    """

    def __init__(self, timeout: asyncio.Timeout, *, failing: bool = False) -> None:
        self._timeout = timeout
        self.failing = failing
        """The target's last poll failed: its requests take slots from the failing targets' share."""
        self._waiting = 0
        self._running = 0
        self._remaining: float | None = None
        """Seconds left on the timeout while suspended; None while it runs."""

    def _update(self) -> None:
        starved = self._waiting > 0 and self._running == 0
        loop = asyncio.get_running_loop()
        if starved and self._remaining is None:
            when = self._timeout.when()
            if when is None or self._timeout.expired():
                return
            self._remaining = max(0.0, when - loop.time())
            self._timeout.reschedule(None)
        elif not starved and self._remaining is not None:
            self._timeout.reschedule(loop.time() + self._remaining)
            self._remaining = None

    def waiting(self, delta: int) -> None:
        self._waiting += delta
        self._update()

    def running(self, delta: int) -> None:
        self._running += delta
        self._update()


_poll_clock: ContextVar[PollClock | None] = ContextVar("poll_clock", default=None)


@asynccontextmanager
async def poll_timeout(seconds: float, *, failing: bool = False) -> AsyncIterator[None]:
    """`asyncio.timeout(seconds)` for one poll, not counting time spent only queued for request slots.

    `failing`: the target's last poll failed, so this poll's requests use the failing targets'
    share of the source's slots (see `SourceContext.request`)."""
    async with asyncio.timeout(seconds) as timeout:
        token = _poll_clock.set(PollClock(timeout, failing=failing))
        try:
            yield
        finally:
            _poll_clock.reset(token)


def failing_share(max_concurrent_requests: int) -> int:
    """Request slots the polls of failing targets may hold at once: half, rounded up."""
    return max_concurrent_requests - max_concurrent_requests // 2


class SourceContext:
    """What the core lends a source: a shared request limit, API instrumentation and a state directory.

    Targets whose last poll failed share at most half of the slots (`failing_share`). A target
    that hangs holds its slot until its timeout; without the share, enough hanging targets would
    hold every slot, and a healthy target's requests would queue behind them for up to a timeout
    each. With it, the other half is always free for targets that answer.
    """

    def __init__(
        self,
        source: str,
        max_concurrent_requests: int,
        observer: ApiObserver | None = None,
        *,
        storage: Path | None = None,
    ) -> None:
        self.source = source
        self.storage = storage
        """`--storage.path`: where the source may keep state across restarts (None: nowhere)."""
        self.max_concurrent_requests = max_concurrent_requests
        self._slots = asyncio.Semaphore(max_concurrent_requests)
        self._failing_slots = asyncio.Semaphore(failing_share(max_concurrent_requests))
        self._observer = observer

    def request(self, endpoint: str) -> AbstractAsyncContextManager[None]:
        """Hold one of the source's request slots and time the call.

        `endpoint` is a route template such as `GET /powerstrip/{id}` so the
        label set stays bounded; it must be one of the source's `api_endpoints`.
        """
        return _RequestSlot(self, endpoint)


class _RequestSlot:
    """`SourceContext.request` (a class, not a generator: it runs once per API call)."""

    __slots__ = ("_clock", "_ctx", "_endpoint", "_share", "_start")

    def __init__(self, ctx: SourceContext, endpoint: str) -> None:
        self._ctx = ctx
        self._endpoint = endpoint
        self._clock: PollClock | None = None
        self._share: asyncio.Semaphore | None = None
        self._start = 0.0

    async def __aenter__(self) -> None:
        slots = self._ctx._slots
        clock = self._clock = _poll_clock.get()
        if clock is None:
            await slots.acquire()
        else:
            share = self._share = self._ctx._failing_slots if clock.failing else None
            clock.waiting(1)
            try:
                if share is not None:
                    await share.acquire()
                try:
                    await slots.acquire()
                except BaseException:
                    if share is not None:
                        share.release()
                    raise
                clock.running(1)
            finally:
                clock.waiting(-1)
        self._start = time.perf_counter()

    async def __aexit__(self, *exc: object) -> None:
        ctx = self._ctx
        ctx._slots.release()
        if self._share is not None:
            self._share.release()
        if self._clock is not None:
            self._clock.running(-1)
        if ctx._observer is not None:
            ctx._observer.observe_api_request(ctx.source, self._endpoint, time.perf_counter() - self._start)


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a target as the landing page lists it: a strip of a network, an outlet of a
    controller, a port of a strip (in `parts`).

    `kind` and `state` are the vendor's own words ("strip", "down"; "outlet", "on"), so the core
    names no vendor; `attention` marks what an operator should look at (a strip that is down). The
    text comes from upstream: the page escapes and redacts it.
    """

    kind: str
    id: str
    name: str
    state: str
    attention: bool = False
    parts: tuple[Component, ...] = ()


class LazyComponents(Sequence[Component]):
    """Components made when first read. Every poll's are kept with its snapshot, but only the landing
    page reads them, and most snapshots are never shown."""

    __slots__ = ("_items", "_make")

    def __init__(self, make: Callable[[], Sequence[Component]]) -> None:
        self._make: Callable[[], Sequence[Component]] | None = make
        self._items: tuple[Component, ...] = ()

    def _all(self) -> tuple[Component, ...]:
        if self._make is not None:
            self._items, self._make = tuple(self._make()), None
        return self._items

    @overload
    def __getitem__(self, index: int) -> Component: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Component]: ...

    def __getitem__(self, index: int | slice) -> Component | Sequence[Component]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[Component]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._all() == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyComponents({self._all()!r})"


class Target(ABC):
    """One polled thing; `name` becomes the `target` label.

    Construction must be cheap and do no I/O: reloads build targets and may
    throw them away. Open sessions lazily in `poll()`.
    """

    def __init__(self, name: str, settings: PollSettings) -> None:
        self.name = name
        self.settings = settings

    @abstractmethod
    async def poll(self) -> SampleSet:
        """Fetch from the device/API and return every device sample of this target.

        Raise `PollError` for known failures. The engine applies the timeout.
        """

    def components(self) -> Sequence[Component]:
        """What the last successful poll found (strips, outlets), for the landing page. Asked for right
        after each successful `poll()` and kept with its samples, so it must not change with later
        polls; a `LazyComponents` makes them only when the page reads them. By default nothing."""
        return ()

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release sessions; called when the target stops."""


class TargetGroup(ABC):
    """What one config entry expands to. Static groups return fixed targets."""

    #: seconds between discover() calls; None means discover once.
    rediscover_interval: float | None = None

    def __init__(self, entry: TargetEntry) -> None:
        self.entry = entry
        self.name = entry.name

    @abstractmethod
    async def discover(self) -> Sequence[Target]:
        """Return the current targets. Raise PollError if discovery fails."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release shared sessions after all targets have stopped."""


class Source(ABC):
    """A vendor integration. Subclasses are registered in `exporter.sources.registry`."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    api_endpoints: ClassVar[tuple[str, ...]]
    entry_model: ClassVar[type[TargetEntry]]
    default_max_concurrent_requests: ClassVar[int] = 16
    default_backoff_intervals: ClassVar[float | None] = None
    """Cap of a failing target's back-off, in its own intervals, when the config sets none for the
    source (None: the global `backoff_max`). A source whose failing poll costs one cheap request to
    a device of its own sets it low, so that a recovered device is seen within that many intervals."""

    @classmethod
    @abstractmethod
    def build_group(cls, entry: TargetEntry, defaults: PollSettings, ctx: SourceContext) -> TargetGroup:
        """Turn a validated entry into a group. No I/O here."""

    @classmethod
    def actions(cls) -> Sequence[ActionSpec]:
        """Action routes this source offers (see exporter.sources.action_api)."""
        return ()
