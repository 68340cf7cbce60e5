"""GET /metrics: prometheus_client's content negotiation, our cached bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from prometheus_client.exposition import choose_encoder

from exporter.metrics.exposition_cache import Exposition


def make_metrics_handler(exposition: Exposition) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        _, content_type = choose_encoder(",".join(request.headers.getall(hdrs.ACCEPT, [])))
        openmetrics = content_type.startswith("application/openmetrics-text")
        names = request.query.getall("name[]", [])
        headers = {hdrs.CONTENT_TYPE: content_type, hdrs.VARY: "Accept, Accept-Encoding"}
        if names:
            return web.Response(body=exposition.render(openmetrics, frozenset(names)), headers=headers)
        if "gzip" in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
            headers[hdrs.CONTENT_ENCODING] = "gzip"
            return web.Response(body=await exposition.gzipped(openmetrics), headers=headers)
        return web.Response(body=exposition.body(openmetrics), headers=headers)

    return metrics
