"""What the DLI client puts on the wire for writes, seen by a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from exporter.sources.api import SourceContext
from exporter.sources.dli.client import ClientSettings, DliClient
from tests.dli.conftest import PASSWORD

Seen = list[tuple[str, str, str | None, str | None, bytes]]


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[str, Seen]]:
    """A server that answers every write 204 and records method, path, body type, length and body."""
    seen: Seen = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            (
                request.method,
                request.path,
                request.headers.get("Content-Type"),
                request.headers.get("Content-Length"),
                body,
            )
        )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_empty_posts_carry_no_body_type_and_form_writes_keep_theirs(recorded: tuple[str, Seen]) -> None:
    url, seen = recorded
    client = DliClient(ClientSettings(url, "admin", PASSWORD, timeout=5.0), SourceContext("dli", 4))
    try:
        await client.cycle(2)
        await client.reboot()
        await client.set_state(1, True)
    finally:
        await client.aclose()
    assert seen == [
        ("POST", "/restapi/relay/outlets/2/cycle/", None, "0", b""),
        ("POST", "/restapi/system/reboot/", None, "0", b""),
        ("PUT", "/restapi/relay/outlets/1/state/", "application/x-www-form-urlencoded", "10", b"value=true"),
    ]
