"""One `/metrics` body: the text of every family, kept in the pieces it was composed from, and its gzip form.

The body holds everything but the runtime metrics (process and Python), which are read at each
scrape and appended as a small tail (before OpenMetrics' `# EOF`). The gzip form is compressed
once per body with zlib; the compressor is kept open after the body, and a scrape finishes a copy
of it with the tail, so the response is one ordinary gzip member and a scrape compresses only its
few hundred tail bytes.
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
"""What the `gzip` program uses by default."""


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


def compose(families: Iterable[RenderedFamily], openmetrics: bool, head: bytes = b"") -> list[bytes]:
    """`head`, then one block per family (its HELP/TYPE and every target's lines of it), in order of
    first appearance, as a list of pieces: joining them is left to whoever needs one string."""
    grouped: dict[str, tuple[MetricSpec, list[bytes]]] = {}
    for spec, lines in families:
        entry = grouped.get(spec.name)
        if entry is None:
            entry = grouped[spec.name] = (spec, [])
        entry[1].append(lines)
    parts = [head]
    for spec, chunks in grouped.values():
        parts.append(header(spec, openmetrics))
        parts.extend(chunk for chunk in chunks if chunk)
    return parts


@dataclass(frozen=True)
class Body:
    """The cached part of a body as of change `version`, in both encodings."""

    version: int
    openmetrics: bool
    parts: tuple[bytes, ...]
    """The text, in pieces (the targets' rendered lines are shared, not copied)."""
    size: int
    gzip_head: bytes
    """The gzip header and the compressed text, flushed to a byte boundary."""
    _compressor: Any
    """The gzip stream after the text, left open: `gzipped` finishes a copy of it."""

    @classmethod
    def build(cls, version: int, openmetrics: bool, parts: Iterable[bytes]) -> Body:
        """Compresses the text: call off the event loop (zlib releases the interpreter lock meanwhile)."""
        pieces = tuple(parts)
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        head = b"".join([compressor.compress(piece) for piece in pieces]) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return cls(version, openmetrics, pieces, sum(map(len, pieces)), head, compressor)

    def _end(self, tail: bytes) -> bytes:
        return tail + EOF if self.openmetrics else tail

    def plain(self, tail: bytes) -> tuple[bytes, ...]:
        """The whole plain body, in pieces: the cached text, then `tail` (and `# EOF` for OpenMetrics)."""
        return (*self.parts, self._end(tail))

    def gzipped(self, tail: bytes) -> bytes:
        """The whole body as one gzip member: `gzip_head`, then `tail` compressed on a copy of the stream."""
        compressor = self._compressor.copy()
        whole: bytes = self.gzip_head + compressor.compress(self._end(tail)) + compressor.flush()
        return whole
