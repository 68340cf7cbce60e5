"""One `/metrics` body: the text of every family, and its gzip form.

The cached part holds everything but the process metrics, which change between scrapes
and are appended as a small tail (before OpenMetrics' `# EOF`; see `process_tail`). The gzip form is
compressed once per body with zlib; the compressor is kept open after the body, and a
scrape finishes a copy of it with the tail, so the response is one ordinary gzip member
and a scrape compresses only its few hundred tail bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Metric
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as om_format
from prometheus_client.registry import Collector

from exporter.metrics.render import RenderedFamily, header
from exporter.metrics.spec import MetricSpec

EOF = b"# EOF\n"
GZIP_LEVEL = 6
"""What `gzip` uses by default: docs/benchmark.md compares sizes and build times with level 1."""


class _Only(Collector):
    """The families of `registry` named in `names` (with or without a counter's `_total`)."""

    def __init__(self, registry: CollectorRegistry, names: frozenset[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            if metric.name in self._names or f"{metric.name}_total" in self._names:
                yield metric


def registry_text(registry: CollectorRegistry, openmetrics: bool, names: frozenset[str] | None = None) -> bytes:
    """A registry's families in either format, without OpenMetrics' `# EOF`."""
    source: Collector = registry if names is None else _Only(registry, names)
    if openmetrics:
        text: bytes = om_format.generate_latest(source)  # type: ignore[no-untyped-call]
        return text.removesuffix(EOF)
    return text_format.generate_latest(source)


def compose(
    families: Iterable[RenderedFamily], openmetrics: bool, head: bytes = b"", names: frozenset[str] | None = None
) -> bytes:
    """`head`, then one block per family (its HELP/TYPE and every target's lines of it), in order of
    first appearance; only the families in `names` when given."""
    grouped: dict[str, tuple[MetricSpec, list[bytes]]] = {}
    for spec, lines in families:
        if names is not None and spec.name not in names:
            continue
        entry = grouped.get(spec.name)
        if entry is None:
            entry = grouped[spec.name] = (spec, [])
        entry[1].append(lines)
    parts = [head]
    for spec, chunks in grouped.values():
        parts.append(header(spec, openmetrics))
        parts.extend(chunks)
    return b"".join(parts)


@dataclass(frozen=True)
class Body:
    """The cached part of a body as of change `version`, in both encodings."""

    version: int
    openmetrics: bool
    text: bytes
    gzip_head: bytes
    """The gzip header and the compressed text, flushed to a byte boundary."""
    _compressor: Any
    """The gzip stream after `text`, left open: `gzipped` finishes a copy of it."""
    _last: list[tuple[bytes, bytes]]
    """The last tail and the gzip body it made (scrapes in the same second share it)."""

    @classmethod
    def build(cls, version: int, openmetrics: bool, text: bytes) -> Body:
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        head = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return cls(version, openmetrics, text, head, compressor, [])

    def tail_end(self) -> bytes:
        return EOF if self.openmetrics else b""

    def parts(self, tail: bytes) -> tuple[bytes, bytes]:
        """The whole plain body: the cached text, then `tail` (and `# EOF` for OpenMetrics)."""
        return self.text, tail + self.tail_end()

    def gzipped(self, tail: bytes) -> bytes:
        """The whole body as one gzip member: `gzip_head`, then `tail` compressed on a copy of the stream.
        Call from the serving thread only."""
        if self._last and self._last[0][0] is tail:
            return self._last[0][1]
        compressor = self._compressor.copy()
        whole: bytes = self.gzip_head + compressor.compress(tail + self.tail_end()) + compressor.flush()
        self._last[:] = [(tail, whole)]
        return whole
