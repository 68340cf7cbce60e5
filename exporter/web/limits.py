"""Bounds every long-running listener needs: header and body read timeouts, and a connection cap.

aiohttp gives a connection that never finishes its request headers no deadline of its own (only the
keep-alive timer, an hour by default for an app runner), so a client sending half a request line
holds a socket, a buffer and a task for as long as it likes. Here:

- the request line and headers must arrive within `header_timeout` of the connection opening, or of
  the first byte of the next request on a kept-alive connection; otherwise the client gets a 408 and
  the connection is closed;
- a body a handler reads must arrive within `body_timeout` (`exporter.actions.body`);
- at most `max_connections` connections are open per listener; one more is answered 503 with
  `Retry-After` and closed at once, so a flood cannot starve the listener of file descriptors;
- an idle kept-alive connection is closed after `IDLE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

IDLE_TIMEOUT = 75.0
"""Seconds an idle kept-alive connection stays open (longer than the usual 60 s scrape interval)."""

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\n"
    b"request headers not received\n"
)
_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n"
)


DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 256


def _ignore(reason: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    on_drop: Callable[[str], None] = _ignore
    """Told `header_timeout` or `too_many_connections` each time a connection is closed for a limit;
    called on the listener's loop (hand it on to wherever the metrics live)."""


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with a deadline for each request's headers.

    The deadline starts when the connection opens, and again when the first byte of a new request
    arrives while the handler is idle; it ends when the parser has a whole request. aiohttp keeps
    parsed requests in `_messages` and waits for the next one on `_waiter`; those are read here."""

    def __init__(self, inner: RequestHandler, listener: _Listener) -> None:
        self._inner = inner
        self._listener = listener
        self._transport: asyncio.WriteTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False

    def _idle(self) -> bool:
        waiter: asyncio.Future[None] | None = getattr(self._inner, "_waiter", None)
        return waiter is not None and not waiter.done() and not getattr(self._inner, "_messages", None)

    def _arm(self) -> None:
        if self._deadline is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._listener.limits.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is None or not self._idle():
            return  # headers arrived in time (the request is being handled)
        self._transport.write(_TIMED_OUT)
        self._inner.force_close()
        self._transport.close()
        self._listener.limits.on_drop("header_timeout")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Counted here, not when the protocol is made: connections accepted in one batch are made
        before any is connected, and a failed TLS handshake never connects at all."""
        assert isinstance(transport, asyncio.WriteTransport)
        if self._listener.open >= self._listener.limits.max_connections:
            transport.write(_TOO_MANY)  # over the cap: answered and closed without reading anything
            transport.close()
            self._listener.limits.on_drop("too_many_connections")
            return
        self._admitted = True
        self._transport = transport
        self._listener.open += 1
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        was_idle = self._idle()
        self._inner.data_received(data)
        if getattr(self._inner, "_messages", None) or not self._idle():
            self._disarm()  # a whole request arrived
        elif was_idle:
            self._arm()  # first bytes of a request: its headers are now on the clock

    def eof_received(self) -> None:
        if self._admitted:
            self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._disarm()
        self._transport = None
        self._listener.open -= 1
        self._inner.connection_lost(exc)


class _Listener:
    """The protocol factory `loop.create_server` calls for each accepted connection."""

    def __init__(self, server: web.Server, limits: HttpLimits) -> None:
        self.server = server
        self.limits = limits
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self.server(), self)


class Site:
    """One app served on its bound sockets, with `HttpLimits` applied."""

    def __init__(self, runner: web.AppRunner, servers: Sequence[asyncio.AbstractServer]) -> None:
        self.runner = runner
        self.servers = tuple(servers)

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        await self.runner.cleanup()


async def start_site(
    app: web.Application,
    sockets: Sequence[socket.socket],
    limits: HttpLimits,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Site:
    """Serve `app` on already bound sockets (see `exporter.runtime.bind_address`); the connection cap
    counts the connections of all of them together."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=IDLE_TIMEOUT)
    await runner.setup()
    assert runner.server is not None
    extra: dict[str, Any] = {"ssl_handshake_timeout": limits.header_timeout} if ssl_context is not None else {}
    listener = _Listener(runner.server, limits)
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []
    try:
        for sock in sockets:
            servers.append(await loop.create_server(listener, sock=sock, ssl=ssl_context, backlog=128, **extra))
    except BaseException:
        for server in servers:
            server.close()
        await runner.cleanup()
        raise
    return Site(runner, servers)
