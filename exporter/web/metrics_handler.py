"""GET /metrics: prometheus_client's content negotiation, our cached bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from prometheus_client.exposition import choose_encoder

from exporter.metrics.exposition_cache import Exposition


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


def make_metrics_handler(exposition: Exposition) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        _, content_type = choose_encoder(",".join(request.headers.getall(hdrs.ACCEPT, [])))
        openmetrics = content_type.startswith("application/openmetrics-text")
        names = request.query.getall("name[]", [])
        headers = {hdrs.CONTENT_TYPE: content_type, hdrs.VARY: "Accept, Accept-Encoding"}
        if names:
            return web.Response(body=exposition.render(openmetrics, frozenset(names)), headers=headers)
        if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            headers[hdrs.CONTENT_ENCODING] = "gzip"
            return web.Response(body=await exposition.gzipped(openmetrics), headers=headers)
        return web.Response(body=exposition.body(openmetrics), headers=headers)

    return metrics
