"""The /metrics body, built once per change and shared by every scrape until the next change.

A change is a published target state (store generation) or a self-metric update
(ProcessMetrics.version). Between changes a scrape is a dictionary lookup; the
gzip form is computed once per change, in a worker thread, and cached too.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Metric
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as om_format
from prometheus_client.registry import Collector

from exporter.engine.state import SnapshotStore
from exporter.metrics.render import header

_EOF = b"# EOF\n"
GZIP_LEVEL = 1
"""Fast compression: the body is compressed once per change, not once per scrape."""


class _Only(Collector):
    """The self-metric families named in `name[]` (with or without a counter's `_total`)."""

    def __init__(self, registry: CollectorRegistry, names: frozenset[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            if metric.name in self._names or f"{metric.name}_total" in self._names:
                yield metric


@dataclass
class _Entry:
    key: tuple[int, int]
    body: bytes
    gzipped: asyncio.Future[bytes] | None = None


class Exposition:
    def __init__(self, store: SnapshotStore, registry: CollectorRegistry, version: Callable[[], int]) -> None:
        self._store = store
        self._registry = registry
        self._version = version
        self._cache: dict[bool, _Entry] = {}

    def _key(self) -> tuple[int, int]:
        return (self._store.generation, self._version())

    def render(self, openmetrics: bool, names: frozenset[str] | None = None) -> bytes:
        """Build the body from scratch: self-metrics first, then device families in snapshot order."""
        registry: Collector = self._registry if names is None else _Only(self._registry, names)
        if openmetrics:
            own = om_format.generate_latest(registry).removesuffix(_EOF)  # type: ignore[no-untyped-call]
        else:
            own = text_format.generate_latest(registry)
        parts = [own]
        grouped: dict[str, list[bytes]] = {}
        headers: dict[str, bytes] = {}
        for state in self._store.states.values():
            for spec, lines in state.rendered:
                if names is not None and spec.name not in names:
                    continue
                chunks = grouped.get(spec.name)
                if chunks is None:
                    chunks = grouped[spec.name] = []
                    headers[spec.name] = header(spec, openmetrics)
                chunks.append(lines)
        for name, chunks in grouped.items():
            parts.append(headers[name])
            parts.extend(chunks)
        if openmetrics:
            parts.append(_EOF)
        return b"".join(parts)

    def body(self, openmetrics: bool) -> bytes:
        key = self._key()
        entry = self._cache.get(openmetrics)
        if entry is None or entry.key != key:
            entry = _Entry(key, self.render(openmetrics))
            self._cache[openmetrics] = entry
        return entry.body

    async def gzipped(self, openmetrics: bool) -> bytes:
        self.body(openmetrics)
        entry = self._cache[openmetrics]
        if entry.gzipped is None:
            loop = asyncio.get_running_loop()
            body = entry.body
            entry.gzipped = loop.run_in_executor(None, lambda: gzip.compress(body, GZIP_LEVEL, mtime=0))
        return await asyncio.shield(entry.gzipped)
