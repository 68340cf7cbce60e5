"""GET /metrics: prometheus_client's content negotiation, our cached bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import LooseHeaders
from prometheus_client.exposition import choose_encoder

from exporter.metrics.body_cache import BodyCache

CHUNK = 1024 * 1024
"""Plain bodies larger than this go out in slices of this size, each awaiting the socket's drain: no
copy of the whole body per scrape, and concurrent scrapes take turns (sizes: docs/benchmark.md)."""


def accepts_gzip(accept_encoding: str) -> bool:
    """True if `gzip` (or `*`) is listed with a non-zero quality."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def chunks(parts: Sequence[bytes]) -> Iterator[bytes | memoryview]:
    """The parts in order, large ones sliced, small neighbours joined, each piece at most ~CHUNK."""
    pending: list[bytes] = []
    pending_size = 0
    for part in parts:
        if len(part) >= CHUNK:
            if pending:
                yield b"".join(pending)
                pending, pending_size = [], 0
            view = memoryview(part)
            for start in range(0, len(part), CHUNK):
                yield view[start : start + CHUNK]
            continue
        pending.append(part)
        pending_size += len(part)
        if pending_size >= CHUNK:
            yield b"".join(pending)
            pending, pending_size = [], 0
    if pending:
        yield b"".join(pending)


async def send_parts(
    request: web.Request, parts: Sequence[bytes], size: int, headers: LooseHeaders
) -> web.StreamResponse:
    if size <= CHUNK:
        return web.Response(body=b"".join(parts), headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    await response.prepare(request)
    for chunk in chunks(parts):
        await response.write(chunk)
    await response.write_eof()
    return response


def make_metrics_handler(bodies: BodyCache) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def metrics(request: web.Request) -> web.StreamResponse:
        _, content_type = choose_encoder(",".join(request.headers.getall(hdrs.ACCEPT, [])))
        openmetrics = content_type.startswith("application/openmetrics-text")
        names = request.query.getall("name[]", [])
        headers = {hdrs.CONTENT_TYPE: content_type, hdrs.VARY: "Accept, Accept-Encoding"}
        if names:
            return web.Response(body=bodies.selection(openmetrics, frozenset(names)), headers=headers)
        body = await bodies.current(openmetrics)
        runtime = bodies.runtime(openmetrics)
        if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            headers[hdrs.CONTENT_ENCODING] = "gzip"
            # One write: a gzip body is a few hundred KB, which the socket takes in one or two sends.
            return web.Response(body=body.gzipped(runtime), headers=headers)
        parts = body.plain(runtime)
        return await send_parts(request, parts, body.size + len(parts[-1]), headers)

    return metrics
