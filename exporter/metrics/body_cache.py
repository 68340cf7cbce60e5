"""Which `/metrics` body a scrape gets, and when bodies are built.

A body is built once per change and shared by every scrape until the next one. Builds
run in one worker thread (zlib releases the interpreter lock while it compresses, so
a build runs beside the polls on another core), never on the listener's loop.

Freshness (stale-while-revalidate): a scrape gets the newest complete body if it lacks
only changes younger than the stale window; otherwise it waits for a build. A body
never lacks a change a client caused (an action or a reload). While some scraper asked
for a form in the last `BUILD_AHEAD_FOR_SECONDS`, changes are built half a window after
they happen, so the next scrape finds the body ready however late it comes. Nobody
scraping: no builds. A scrape that does not wait starts no build: that build would take
a core from the scraper while it parses the answer (docs/benchmark.md, "Builds a scrape
started").

The window is `max_stale`, or `stale_per_build` times what one round of builds (one per
form) last took, whichever is longer: a body cannot be fresher than it takes to build,
and building ahead then keeps the build thread busy at most about 1/(2 x stale_per_build)
of the time per form during polls.
The process metrics that end every body come from `ProcessTail`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from exporter.metrics.body import Body, compose, registry_text
from exporter.metrics.changes import Changes
from exporter.metrics.process_tail import ProcessTail
from exporter.metrics.render import RenderedFamily

BUILD_AHEAD_FOR_SECONDS = 600.0
"""A form nobody scraped for this long is no longer built ahead of scrapes."""
_TRIES = 3
"""Builds a scrape waits for, at most, while changes keep outdating them; then it takes the last."""


class BodyCache:
    """`families`: every target's rendered families (read from the build thread: it must only read
    immutable state). `registry`: the self-metrics cached with the body. `tail`: the process metrics,
    read apart from the body."""

    def __init__(
        self,
        families: Callable[[], Iterable[RenderedFamily]],
        registry: CollectorRegistry,
        tail: ProcessTail,
        changes: Changes,
        max_stale: float = 0.0,
        stale_per_build: float = 0.0,
    ) -> None:
        self._families = families
        self._registry = registry
        self._tail = tail
        self._changes = changes
        self.max_stale = max_stale
        self.stale_per_build = stale_per_build
        self._build_seconds: dict[bool, float] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="body-build")
        self._lock = threading.Lock()
        self._building: dict[bool, Future[Body]] = {}
        self._latest: dict[bool, Body] = {}
        self._asked: dict[bool, float] = {}
        self._build_ahead_due = False
        changes.subscribe(self._changed)

    # -- building -------------------------------------------------------------------------

    def build(self, openmetrics: bool) -> Body:
        """A body of the current state, built on the calling thread."""
        version = self._changes.version  # read before the state: the body holds at least this version
        started = time.perf_counter()
        text = compose(self._families(), openmetrics, registry_text(self._registry, openmetrics))
        body = Body.build(version, openmetrics, text)
        self._build_seconds[openmetrics] = time.perf_counter() - started
        with self._lock:
            latest = self._latest.get(openmetrics)
            if latest is None or latest.version <= version:
                self._latest[openmetrics] = body
        return body

    def _start_build(self, openmetrics: bool) -> Future[Body]:
        """The build under way for this form, or a new one."""
        with self._lock:
            running = self._building.get(openmetrics)
            if running is None or running.done():
                running = self._worker.submit(self.build, openmetrics)
                self._building[openmetrics] = running
            return running

    @property
    def stale_window(self) -> float:
        """How long after a change a body that lacks it may still be served (see the module docstring)."""
        if self.max_stale <= 0:
            return 0.0
        return max(self.max_stale, self.stale_per_build * sum(self._build_seconds.values()))

    def _changed(self) -> None:
        if self.max_stale <= 0 or self._build_ahead_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to schedule on: scrapes build on demand
        self._build_ahead_due = True
        loop.call_later(self.stale_window / 2, self._build_ahead)

    def _build_ahead(self) -> None:
        self._build_ahead_due = False  # first: a change from now on schedules the next one
        now = time.monotonic()
        for openmetrics, at in list(self._asked.items()):
            if now - at < BUILD_AHEAD_FOR_SECONDS:
                self._start_build(openmetrics)

    # -- serving --------------------------------------------------------------------------

    def _servable(self, body: Body) -> bool:
        changes = self._changes
        if body.version == changes.version:
            return True
        if body.version < changes.client_version:
            return False
        return time.monotonic() - changes.since(body.version) < self.stale_window

    async def current(self, openmetrics: bool) -> Body:
        """The body a scrape gets now (see the module docstring); never built on the calling thread."""
        self._asked[openmetrics] = time.monotonic()
        body = self._latest.get(openmetrics)
        if body is not None and self._servable(body):
            return body
        for _ in range(_TRIES):
            # Shielded: a scraper that hangs up must not cancel a build other scrapes wait for.
            body = await asyncio.shield(asyncio.wrap_future(self._start_build(openmetrics)))
            if self._servable(body):
                break
        assert body is not None
        return body

    def tail(self, openmetrics: bool) -> bytes:
        """The process metrics, to end the body with (see `ProcessTail`)."""
        return self._tail.text(openmetrics)

    def selection(self, openmetrics: bool, names: frozenset[str]) -> bytes:
        """The families in `names` only (`name[]=` in the URL), built now: small, so never cached."""
        head = registry_text(self._registry, openmetrics, names) + self._tail.selection(openmetrics, names)
        text = compose(self._families(), openmetrics, head, names)
        return text + (b"# EOF\n" if openmetrics else b"")

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._tail.close()
