"""The /metrics body, built once per change and shared by every scrape until the next change.

A change is a published target state (store generation) or a self-metric update
(ProcessMetrics.version). Between changes a scrape is a dictionary lookup.

A change costs what changed, not the whole body: the body is a list of parts, one
per metric family (its HELP/TYPE header and every target's pre-rendered lines of
that family), and a family's part is rebuilt only when one of its targets' lines
changed. A DLI unit's new snapshot rebuilds only the DLI families, never the
megabytes of CloudTrax ports.

gzip works the same way, without recompressing anything that did not change:
every target's lines of a family are deflated once, on their own (a fresh
compressor ending on a byte boundary), and the raw deflate pieces are simply
concatenated into one gzip member; only the CRC-32 and the length are computed
over the uncompressed parts. So a scrape never compresses, and a change compresses
only the new lines.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Metric
from prometheus_client import exposition as text_format
from prometheus_client.openmetrics import exposition as om_format
from prometheus_client.registry import Collector

from exporter.engine.state import SnapshotStore, TargetKey, TargetState
from exporter.metrics.exposition import render_status
from exporter.metrics.render import RenderedFamily, header
from exporter.metrics.selfmetrics import TARGET_SPECS
from exporter.metrics.spec import MetricSpec

_EOF = b"# EOF\n"
PRERENDER_FOR_SECONDS = 600.0
"""A form nobody scraped for this long is no longer rendered ahead of scrapes."""
_EVENT_RETRIES = 3
GZIP_LEVEL = 1
"""Fast compression: each piece is compressed once, when it first goes out after a change."""
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""gzip member header: deflate, no flags, mtime 0, no extra flags, unknown OS (as gzip.compress(mtime=0))."""
_DEFLATE_END = b"\x03\x00"
"""An empty final block with fixed codes: closes a deflate stream made of byte-aligned pieces."""


def deflate_piece(data: bytes) -> bytes:
    """Raw deflate of `data` on its own, ending byte-aligned and not final, so pieces concatenate."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


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
class _Block:
    """One family's part of the body: header plus every target's lines, and its gzip pieces."""

    head: bytes
    fragments: tuple[bytes, ...]
    data: bytes
    crc: int
    deflated: list[bytes] | None = None


class _StaleClock:
    """When the body it belongs to stopped being current: the first change after its key was read."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None


@dataclass
class _Body:
    key: tuple[int, int]
    openmetrics: bool
    parts: list[bytes]
    blocks: list[_Block]
    own: bytes
    joined: bytes | None = None
    gzipped: bytes | None = None
    size: int = field(default=0)
    events: int = 0
    clock: _StaleClock = field(default_factory=_StaleClock)


_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _render_worker() -> ThreadPoolExecutor:
    """One thread for every rebuild: Exposition's caches are only ever touched from it (or, in
    synchronous use, from the caller alone). Renders are asked for from the web thread (scrapes)
    and the main loop (background renders), hence the lock."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        return _worker


class Exposition:
    """`intervals`: each target's poll interval; when given, the per-target self-metrics are included."""

    def __init__(
        self,
        store: SnapshotStore,
        registry: CollectorRegistry,
        version: Callable[[], int],
        intervals: Callable[[TargetKey], float | None] | None = None,
        max_stale: float = 0.0,
        events: Callable[[], int] = lambda: 0,
    ) -> None:
        self._store = store
        self.max_stale = max_stale
        self._events = events
        self._refreshing: dict[bool, Future[_Body]] = {}
        self._clocks: tuple[_StaleClock, ...] = ()
        """The stale clocks of the bodies still in use (replaced as a whole, so `changed` can read it
        from another thread)."""
        self._prerender_due = False
        self._asked: dict[bool, float] = {}
        """When each form (plain text or OpenMetrics) was last scraped: only those are rendered ahead."""
        self._served: dict[bool, _Body] = {}
        """The last body the render thread finished (plain and gzip forms); what the async path
        answers with while it renders the next."""
        self._registry = registry
        self._version = version
        self._intervals = intervals
        self._status: dict[int, tuple[TargetState, float | None, tuple[RenderedFamily, ...]]] = {}
        """Rendered self-metrics by id() of the state (kept in the value, so ids stay unique)."""
        self._bodies: dict[bool, _Body] = {}
        self._blocks: dict[bool, dict[str, _Block]] = {False: {}, True: {}}
        self._pieces: dict[int, tuple[bytes, bytes]] = {}
        """Deflated target lines by id() of the lines (the lines are kept in the value, so ids stay unique)."""

    def _key(self) -> tuple[int, int]:
        return (self._store.generation, self._version())

    def changed(self) -> None:
        """Call on every change of what /metrics shows: starts the stale clock of the bodies built before.

        The clock runs from the change, not from when a body was built, so a body that was current
        for an hour may still answer the scrapes of the first `max_stale` seconds after a change.
        """
        now = time.monotonic()
        for clock in self._clocks:
            if clock.since is None:
                clock.since = now
        self._schedule_prerender()

    def _schedule_prerender(self) -> None:
        """Render in the background, half of `max_stale` after a change, so that the next scrape finds
        the body ready (or young enough to serve at once) instead of waiting for it, however long after
        the change it comes. At most one is scheduled at a time: during a poll cycle's stream of
        changes that is one render per `max_stale / 2`, whatever the scrape rate."""
        if self.max_stale <= 0 or self._prerender_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # synchronous use: scrapes render on demand
        self._prerender_due = True
        loop.call_later(self.max_stale / 2, self._prerender)

    def _prerender(self) -> None:
        # Cleared before the render reads the key: a change from now on schedules the next one.
        self._prerender_due = False
        now = time.monotonic()
        if not self._asked:
            forms = [False]  # nobody scraped yet: have plain text ready for the first scrape
        else:
            forms = [form for form, at in self._asked.items() if now - at < PRERENDER_FOR_SECONDS]
        for openmetrics in forms:
            self._refresh(openmetrics)

    def _own(self, openmetrics: bool, names: frozenset[str] | None = None) -> bytes:
        registry: Collector = self._registry if names is None else _Only(self._registry, names)
        if openmetrics:
            own: bytes = om_format.generate_latest(registry).removesuffix(_EOF)  # type: ignore[no-untyped-call]
            return own
        return text_format.generate_latest(registry)

    def _status_of(
        self, state: TargetState, intervals: Callable[[TargetKey], float | None]
    ) -> tuple[RenderedFamily, ...]:
        interval = intervals(state.key)
        cached = self._status.get(id(state))
        if cached is None or cached[0] is not state or cached[1] != interval:
            cached = self._status[id(state)] = (state, interval, render_status(state, interval))
        return cached[2]

    def _grouped(self, names: frozenset[str] | None = None) -> dict[str, tuple[MetricSpec, list[bytes]]]:
        """Every target's lines by family: its self-metrics (each family even when empty), then device
        families in order of first appearance."""
        grouped: dict[str, tuple[MetricSpec, list[bytes]]] = {}
        states = list(self._store.states.values())
        intervals = self._intervals
        if intervals is not None:
            for spec in TARGET_SPECS:
                if names is None or spec.name in names:
                    grouped[spec.name] = (spec, [])
            for state in states:
                for spec, lines in self._status_of(state, intervals):
                    entry = grouped.get(spec.name)
                    if entry is not None:
                        entry[1].append(lines)
            live = {id(state) for state in states}
            for ident in [i for i in self._status if i not in live]:
                del self._status[ident]
        for state in states:
            for spec, lines in state.rendered:
                if names is not None and spec.name not in names:
                    continue
                entry = grouped.get(spec.name)
                if entry is None:
                    entry = grouped[spec.name] = (spec, [])
                entry[1].append(lines)
        return grouped

    def render(self, openmetrics: bool, names: frozenset[str] | None = None) -> bytes:
        """Build a body from scratch (used for `name[]` selections): self-metrics, then device families."""
        parts = [self._own(openmetrics, names)]
        for spec, chunks in self._grouped(names).values():
            parts.append(header(spec, openmetrics))
            parts.extend(chunks)
        if openmetrics:
            parts.append(_EOF)
        return b"".join(parts)

    def _build(self, openmetrics: bool, key: tuple[int, int], clock: _StaleClock) -> _Body:
        events = self._events()
        known = self._blocks[openmetrics]
        fresh: dict[str, _Block] = {}
        blocks = []
        for name, (spec, chunks) in self._grouped().items():
            fragments = tuple(chunks)
            block = known.get(name)
            if (
                block is None
                or len(block.fragments) != len(fragments)
                or any(a is not b for a, b in zip(block.fragments, fragments, strict=True))
            ):
                head = header(spec, openmetrics)
                data = b"".join((head, *fragments))
                block = _Block(head, fragments, data, zlib.crc32(data))
            fresh[name] = block
            blocks.append(block)
        self._blocks[openmetrics] = fresh
        own = self._own(openmetrics)
        parts = [own, *(b.data for b in blocks)]
        if openmetrics:
            parts.append(_EOF)
        body = _Body(key, openmetrics, parts, blocks, own, size=sum(len(p) for p in parts), events=events, clock=clock)
        self._bodies[openmetrics] = body
        return body

    def _current(self, openmetrics: bool) -> _Body:
        body = self._bodies.get(openmetrics)
        if body is None or body.key != self._key():
            # The clock is watched before the key is read: a change racing with the build stops it
            # early (a scrape may then wait), never late (a scrape never gets an older body).
            clock = _StaleClock()
            self._clocks = (*self._clocks, clock)
            body = self._build(openmetrics, self._key(), clock)
            self._clocks = tuple(
                {id(b.clock): b.clock for b in (*self._bodies.values(), *self._served.values())}.values()
            )
        return body

    def parts(self, openmetrics: bool) -> tuple[Sequence[bytes], int]:
        """The current body as parts (to write without joining) and its length."""
        body = self._current(openmetrics)
        return body.parts, body.size

    def body(self, openmetrics: bool) -> bytes:
        body = self._current(openmetrics)
        if body.joined is None:
            body.joined = b"".join(body.parts)
        return body.joined

    def _deflated(self, block: _Block) -> list[bytes]:
        if block.deflated is None:
            pieces = [deflate_piece(block.head)]
            for lines in block.fragments:
                cached = self._pieces.get(id(lines))
                if cached is None or cached[0] is not lines:
                    cached = (lines, deflate_piece(lines))
                    self._pieces[id(lines)] = cached
                pieces.append(cached[1])
            block.deflated = pieces
        return block.deflated

    def gzip_body(self, openmetrics: bool) -> bytes:
        """The current body as one gzip member, assembled from cached deflate pieces."""
        return self._gzip(self._current(openmetrics))

    def _gzip(self, body: _Body) -> bytes:
        openmetrics = body.openmetrics
        if body.gzipped is None:
            pieces = [_GZIP_HEADER, deflate_piece(body.own)]
            crc = zlib.crc32(body.own)
            for block in body.blocks:
                pieces.extend(self._deflated(block))
                crc = crc32_combine(crc, block.crc, len(block.data))
            if openmetrics:
                pieces.append(deflate_piece(_EOF))
                crc = zlib.crc32(_EOF, crc)
            pieces.append(_DEFLATE_END)
            pieces.append(struct.pack("<II", crc, body.size & 0xFFFFFFFF))
            body.gzipped = b"".join(pieces)
            self._forget_pieces()
        return body.gzipped

    def _forget_pieces(self) -> None:
        """Drop deflated lines no current block refers to (their targets published newer lines)."""
        live = {id(f) for blocks in self._blocks.values() for b in blocks.values() for f in b.fragments}
        for ident in [i for i in self._pieces if i not in live]:
            del self._pieces[ident]

    # -- async serving (the /metrics handler) -------------------------------------------

    def _rebuild(self, openmetrics: bool) -> _Body:
        """Bring the body up to date and only then hand it to the async path, complete."""
        body = self._current(openmetrics)
        self._gzip(body)  # Prometheus asks for gzip: have it ready before the first such scrape
        self._served[openmetrics] = body
        return body

    def _refresh(self, openmetrics: bool) -> Future[_Body]:
        """The rebuild under way for this form, or a new one in the render thread."""
        running = self._refreshing.get(openmetrics)
        if running is None or running.done():
            running = _render_worker().submit(self._rebuild, openmetrics)
            self._refreshing[openmetrics] = running
        return running

    async def _serve(self, openmetrics: bool) -> _Body:
        """The served body (plain and gzip forms both ready), at most `max_stale` behind a change and
        never from before an action or a reload."""
        self._asked[openmetrics] = time.monotonic()
        body = self._served.get(openmetrics)
        if body is not None:
            if body.key == self._key():
                return body
            since = body.clock.since
            fresh_enough = since is not None and time.monotonic() - since < self.max_stale
            if fresh_enough and body.events == self._events():
                self._refresh(openmetrics)
                return body
        body = await self._rendered(openmetrics)
        for _ in range(_EVENT_RETRIES):
            if body.events == self._events():
                break
            # The render was already under way when an action or reload happened: one more.
            body = await self._rendered(openmetrics)
        return body

    async def _rendered(self, openmetrics: bool) -> _Body:
        # Shielded: a scraper that hangs up must not cancel a render other scrapes wait for.
        return await asyncio.shield(asyncio.wrap_future(self._refresh(openmetrics)))

    async def gzipped(self, openmetrics: bool) -> bytes:
        """The gzip body, without compressing or rendering on the calling thread."""
        body = await self._serve(openmetrics)
        assert body.gzipped is not None
        return body.gzipped

    async def current_parts(self, openmetrics: bool) -> tuple[Sequence[bytes], int]:
        """The plain body as parts, without rendering on the calling thread."""
        body = await self._serve(openmetrics)
        return body.parts, body.size

    async def selection(self, openmetrics: bool, names: frozenset[str]) -> bytes:
        """`render` for a `name[]` selection, in the render thread (it shares the self-metric cache)."""
        return await asyncio.wrap_future(_render_worker().submit(self.render, openmetrics, names))


# CRC-32 of a concatenation from the CRCs of its parts (zlib's crc32_combine, which Python's zlib
# does not expose), so a block's CRC is computed once, when the block changes.

_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (bit-reflected)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> list[int]:
    table = []
    p = 1 << 30  # x^1
    table.append(p)
    for _ in range(1, 32):
        p = _multmodp(p, p)
        table.append(p)
    return table


_X2N = _x2n_table()
_SHIFTS: dict[int, int] = {}


def _x8nmodp(n: int) -> int:
    """x^(8n) modulo the polynomial: the operator that appends n zero bytes."""
    cached = _SHIFTS.get(n)
    if cached is not None:
        return cached
    p = 1 << 31  # x^0
    k = 3
    m = n
    while m:
        if m & 1:
            p = _multmodp(_X2N[k & 31], p)
        m >>= 1
        k += 1
    if len(_SHIFTS) > 4096:
        _SHIFTS.clear()
    _SHIFTS[n] = p
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc32(A), crc32(B) and len(B)."""
    if len2 <= 0:
        return crc1
    return _multmodp(_x8nmodp(len2), crc1) ^ crc2
