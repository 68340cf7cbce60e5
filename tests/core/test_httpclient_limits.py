"""A huge upstream answer fails as bad_response instead of exhausting memory."""

from __future__ import annotations

import gzip

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from exporter.sources.api import PollError
from exporter.sources.httpclient import read_limited


async def test_read_limited_stops_a_decompression_bomb() -> None:
    bomb = gzip.compress(b"[" + b" " * (4 * 1024 * 1024) + b"]")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/")) as resp:
            with pytest.raises(PollError) as info:
                await read_limited(resp, "GET /", limit=1024 * 1024)
        async with session.get(server.make_url("/")) as resp:
            assert len(await read_limited(resp, "GET /")) == 4 * 1024 * 1024 + 2
    assert info.value.reason == "bad_response"
    assert str(info.value) == "GET /: answer exceeds 1048576 bytes"


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    app = web.Application()
    app.router.add_get("/", handler)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/")) as resp,
    ):
        with pytest.raises(PollError, match="answer of 5000 bytes exceeds 4096"):
            await read_limited(resp, "GET /", limit=4096)
