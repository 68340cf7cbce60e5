"""Which `/metrics` body a scrape gets, and when bodies are built.

A body is built once per change, in one worker thread (zlib releases the interpreter lock while
it compresses, so a build runs beside the polls on another core), never on the event loop, and
every scrape until the next one shares it. While someone scrapes a form (plain text or
OpenMetrics), each change queues one build of it: changes that come while a build waits to start
share that build, so a body lags the newest change by at most the build under way and the one
queued. A scrape gets the newest body at once; it waits only when there is none yet, or when the
newest lacks a change a client caused (an action or a reload). A form nobody asked for in
`KEEP_BUILDING_FOR_SECONDS` is no longer built, and its last body is dropped, so an exporter nobody
scrapes builds nothing and keeps no body.

The runtime metrics (process and Python) are read at each scrape, as prometheus_client reads them,
and end every body.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from exporter.metrics.body import EOF, Body, compose, registry_text
from exporter.metrics.changes import Changes
from exporter.metrics.render import RenderedFamily

KEEP_BUILDING_FOR_SECONDS = 600.0
"""A form nobody scraped for this long is no longer built after changes."""
RUNTIME_PREFIXES = ("process_", "python_")
"""Every family of the runtime registry starts with one of these."""

Families = Callable[[frozenset[str] | None], Iterable[RenderedFamily]]
"""Every target's rendered families, or only those named (None: all). Called from the build thread
for whole bodies: it must only read immutable state."""


class BodyCache:
    """`families`: what the targets show. `registry`: the self-metrics built into the body.
    `runtime`: the process and Python metrics, read at each scrape."""

    def __init__(
        self,
        families: Families,
        registry: CollectorRegistry,
        runtime: CollectorRegistry,
        changes: Changes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._families = families
        self._registry = registry
        self._runtime = runtime
        self._changes = changes
        self._clock = clock
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="body-build")
        self._lock = threading.Lock()
        self._queued: dict[bool, Future[Body]] = {}
        """Per form, the build that has not started yet: it will read the newest state."""
        self._latest: dict[bool, Body] = {}
        self._asked: dict[bool, float] = {}
        self._closed = False
        changes.subscribe(self._changed)

    def build(self, openmetrics: bool) -> Body:
        """A body of the current state, built on the calling thread."""
        version = self._changes.version  # read before the state: the body holds at least this version
        parts = compose(self._families(None), openmetrics, registry_text(self._registry, openmetrics))
        body = Body.build(version, openmetrics, parts)
        with self._lock:
            latest = self._latest.get(openmetrics)
            if openmetrics in self._asked and (latest is None or latest.version <= version):
                self._latest[openmetrics] = body
        return body

    def _request(self, openmetrics: bool) -> Future[Body]:
        """A build of this form that starts from now on (the one already queued, or a new one)."""
        with self._lock:
            queued = self._queued.get(openmetrics)
            if queued is None:
                queued = self._worker.submit(self._build_queued, openmetrics)
                self._queued[openmetrics] = queued
            return queued

    def _build_queued(self, openmetrics: bool) -> Body:
        with self._lock:
            del self._queued[openmetrics]  # first: a change from now on queues the next build
        return self.build(openmetrics)

    def _changed(self) -> None:
        if self._closed:
            return
        now = self._clock()
        for openmetrics, at in list(self._asked.items()):
            if now - at < KEEP_BUILDING_FOR_SECONDS:
                self._request(openmetrics)
            else:
                with self._lock:
                    del self._asked[openmetrics]
                    self._latest.pop(openmetrics, None)

    async def current(self, openmetrics: bool) -> Body:
        """The body a scrape gets now (see the module docstring); never built on the calling thread."""
        self._asked[openmetrics] = self._clock()
        body = self._latest.get(openmetrics)
        if body is not None and body.version >= self._changes.client_version:
            return body
        # Shielded: a scraper that hangs up must not cancel a build other scrapes wait for.
        return await asyncio.shield(asyncio.wrap_future(self._request(openmetrics)))

    def newest(self, openmetrics: bool) -> Body | None:
        """The newest body of this form, if one was built and is kept (see the module docstring)."""
        return self._latest.get(openmetrics)

    def runtime(self, openmetrics: bool) -> bytes:
        """The process and Python metrics, read now, to end the body with."""
        return registry_text(self._runtime, openmetrics)

    def selection(self, openmetrics: bool, names: frozenset[str]) -> bytes:
        """The families in `names` only (`name[]=` in the URL), read now: small, so never cached."""
        head = registry_text(self._registry, openmetrics, names)
        if any(name.startswith(RUNTIME_PREFIXES) for name in names):  # status probes need no /proc read
            head += registry_text(self._runtime, openmetrics, names)
        selected = (family for family in self._families(names) if family[0].name in names)
        return b"".join(compose(selected, openmetrics, head)) + (EOF if openmetrics else b"")

    def close(self) -> None:
        self._closed = True
        self._worker.shutdown(wait=False, cancel_futures=True)
