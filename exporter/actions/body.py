"""Request bodies, read once on the listener's loop, bounded in size and time.

A handler that wants a body declares how much (`reads_body`), a middleware reads at most that much
plus one byte within the read timeout, and the handler looks at what was read (`body_of`) and
decides: a handler that needs no body never waits for one, and a client that declares a body and
stalls cannot hold a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LIMIT_ATTR = "_body_limit"

BodyProblem = Literal["too_large", "timeout", "unreadable"]


@dataclass(frozen=True, slots=True)
class Body:
    """What the listener read: `data` is complete unless `problem` says why not."""

    data: bytes
    problem: BodyProblem | None = None

    def refusal(self, limit: int) -> tuple[int, str] | None:
        """The status and detail every handler answers a body it could not read with (None: read whole)."""
        if self.problem == "too_large":
            return 413, f"request body too large (limit {limit} bytes)"
        if self.problem == "timeout":
            return 408, "the request body did not arrive in time"
        if self.problem is not None:
            return 400, "could not read the request body"
        return None


_KEY = web.RequestKey("body", Body)


def reads_body(limit: int) -> Callable[[Handler], Handler]:
    """Mark a handler that wants the request body, at most `limit` bytes of it."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _LIMIT_ATTR, limit)
        return handler

    return mark


def body_of(request: web.Request) -> Body:
    """The body the middleware read for this request (empty when the handler did not ask for one)."""
    return request[_KEY] if _KEY in request else Body(b"")


async def read_bounded(request: web.Request, limit: int, seconds: float) -> Body:
    """At most `limit` + 1 bytes within `seconds`; a declared length over `limit` is not read at all."""
    if request.content_length is not None and request.content_length > limit:
        return Body(b"", "too_large")
    if not request.body_exists:
        return Body(b"")
    data = bytearray()
    try:
        async with asyncio.timeout(seconds):
            while len(data) <= limit:
                chunk = await request.content.read(limit + 1 - len(data))
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        return Body(bytes(data), "timeout")
    except (ConnectionError, HttpProcessingError, aiohttp.ClientError, asyncio.IncompleteReadError):
        return Body(bytes(data), "unreadable")
    if len(data) > limit:
        return Body(bytes(data[:limit]), "too_large")
    return Body(bytes(data))


def body_reader(timeout: float) -> Any:
    """Middleware on the listener's loop: read the body of handlers marked with `reads_body`."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit = getattr(request.match_info.handler, _LIMIT_ATTR, None)
        if isinstance(limit, int):
            request[_KEY] = await read_bounded(request, limit, timeout)
        return await handler(request)

    return read_body
