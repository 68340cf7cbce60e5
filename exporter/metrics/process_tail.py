"""The process metrics that end every `/metrics` body, read on a thread of their own.

Reading them costs a dozen system calls, and each one hands the interpreter lock over; while the
polls keep the lock busy, a read on the listeners' thread held up every scrape queued behind it
(measured: docs/benchmark.md). Here a thread reads them once per `every` seconds while some scraper
asked for them in the last `keep_for` seconds, and a scrape only takes the newest read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from prometheus_client import CollectorRegistry

from exporter.metrics.body import registry_text

EVERY_SECONDS = 1.0
"""How often the thread reads. A scrape takes a reading up to twice this old; an older one (after a
pause in scraping) it reads itself."""
PREFIX = "process_"
"""Every family of the registry starts with this (prometheus_client's process collector)."""
KEEP_FOR_SECONDS = 600.0
"""A form nobody asked for this long is no longer read."""


class ProcessTail:
    """`registry` in the text and OpenMetrics forms, at most `2 * every` seconds old. `every` 0: read
    at every call, on the calling thread. `clock`: seconds, monotonic (tests pass their own)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        every: float = EVERY_SECONDS,
        keep_for: float = KEEP_FOR_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self.every = every
        self._keep_for = keep_for
        self._clock = clock
        self._texts: dict[bool, tuple[float, bytes]] = {}
        self._asked: dict[bool, float] = {}
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def selection(self, openmetrics: bool, names: Collection[str]) -> bytes:
        """The families in `names` read now (`name[]=` requests), or nothing without a read when no
        name is a process metric: those requests come often (status probes) and need none."""
        if not any(name.startswith(PREFIX) for name in names):
            return b""
        return registry_text(self._registry, openmetrics, frozenset(names))

    def text(self, openmetrics: bool) -> bytes:
        """The newest read. Read here instead when there is none this fresh (the first scrape, or the
        first after a pause), and the thread starts reading for the next ones."""
        if self.every <= 0:
            return registry_text(self._registry, openmetrics)
        now = self._clock()
        self._asked[openmetrics] = now
        read = self._texts.get(openmetrics)
        if read is None or now - read[0] > 2 * self.every:
            read = self._texts[openmetrics] = (now, registry_text(self._registry, openmetrics))
            self._start()
        self._wanted.set()
        return read[1]

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="process-metrics", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            self._wanted.wait()
            if self._stopped.is_set():
                return
            recent = self._recent()
            if not recent:
                self._wanted.clear()  # nobody scrapes: sleep until someone does
                if self._recent():  # unless a scrape asked between the look and the clear
                    self._wanted.set()
                continue
            for openmetrics in recent:
                self._texts[openmetrics] = (self._clock(), registry_text(self._registry, openmetrics))

    def _recent(self) -> list[bool]:
        now = self._clock()
        return [form for form, at in list(self._asked.items()) if now - at < self._keep_for]

    def close(self) -> None:
        self._stopped.set()
        self._wanted.set()
