"""Bounds every long-running listener needs: header and body read timeouts, and connection caps.

aiohttp gives a connection that never finishes its request headers no deadline of its own (only the
keep-alive timer, an hour by default for an app runner), so a client sending half a request line
holds a socket, a buffer and a task for as long as it likes. Here:

- every request's line and headers must arrive within `header_timeout` of its first byte (for the
  first request, of the connection opening), pipelined requests included; otherwise the client gets
  a 408 and the connection is closed (after the answer in progress, if any);
- a body a handler reads must arrive within `body_timeout` (`exporter.actions.body`);
- at most `max_connections` connections are open per listener, and at most `max_per_client` of them
  from one client (an IPv4 address, or an IPv6 /64); one more is answered 503 (the listener is
  full) or 429 (the client has its share) with `Retry-After` and closed at once, so neither a flood
  nor one client holding sockets open can take the listener away from everyone else;
- an idle kept-alive connection is closed after `IDLE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from exporter.actions.auth import client_key

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
_CLIENT_SHARE = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 39\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections from this address\n"
)


DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_PER_CLIENT = 32


def _ignore(reason: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_client: int = DEFAULT_MAX_PER_CLIENT
    on_drop: Callable[[str], None] = _ignore
    """Told `header_timeout`, `too_many_connections` or `too_many_client_connections` each time a
    connection is closed for a limit; called on the listener's loop (hand it on to wherever the
    metrics live)."""


def _client_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return client_key(str(peer[0]))
    return "unknown"  # a Unix socket, or a peer already gone


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with a deadline for each request's headers.

    Whether a request head is pending is decided at every packet: its last byte either ends a head
    (or a body), or leaves one unfinished. aiohttp's parser keeps that state to itself, so each packet
    is handed over in two parts, all but its last byte and then that byte: a request counted or a
    body finished by the last byte means the packet ended on a boundary. The deadline runs while a
    head is pending, from its first byte, whatever the handler is doing meanwhile. aiohttp keeps
    parsed requests in `_messages`, counts them in `_request_count` and waits for the next one on
    `_waiter`; those are read here."""

    def __init__(self, inner: RequestHandler, listener: _Listener) -> None:
        self._inner = inner
        self._listener = listener
        self._transport: asyncio.WriteTransport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._client: str | None = None
        self._payload: Any = None
        """The body stream of the last request parsed (its `is_eof()` says whether the body is done)."""

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
        if self._transport is None:
            return
        self._listener.limits.on_drop("header_timeout")
        if self._idle():
            self._transport.write(_TIMED_OUT)
            self._inner.force_close()
            self._transport.close()
        else:
            self._inner.close()  # an answer is in progress: close once it is sent, read nothing more

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Counted here, not when the protocol is made: connections accepted in one batch are made
        before any is connected, and a failed TLS handshake never connects at all."""
        assert isinstance(transport, asyncio.WriteTransport)
        listener = self._listener
        client = _client_of(transport)
        refusal = listener.refusal(client)
        if refusal is not None:
            reason, answer = refusal
            transport.write(answer)  # answered and closed without reading anything
            transport.close()
            listener.limits.on_drop(reason)
            return
        self._client = client
        self._transport = transport
        listener.admit(client)
        self._inner.connection_made(transport)
        self._arm()

    def _in_body(self) -> bool:
        return self._payload is not None and not self._payload.is_eof()

    def _feed(self, data: bytes) -> bool:
        """Hand `data` to aiohttp; True if it ended on a request boundary (no head left unfinished)."""
        inner = self._inner
        if len(data) > 1:
            self._feed_part(data[:-1])
        before = inner._request_count
        body_pending = self._in_body()
        self._feed_part(data[-1:])
        head_ended = inner._request_count > before
        body_ended = body_pending and not self._in_body()
        return head_ended or body_ended or self._in_body()

    def _feed_part(self, data: bytes) -> None:
        inner = self._inner
        before = inner._request_count
        inner.data_received(data)
        messages = getattr(inner, "_messages", None)
        if inner._request_count > before and messages:
            self._payload = messages[-1][1]

    def data_received(self, data: bytes) -> None:
        if self._client is None or not data:
            return
        if self._feed(data):
            self._disarm()
        else:
            self._arm()  # a head is unfinished: on the clock from its first byte (kept if already running)

    def eof_received(self) -> None:
        if self._client is not None:
            self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._client is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._client is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._disarm()
        self._transport = None
        self._payload = None
        self._listener.release(client)
        self._inner.connection_lost(exc)


class _Listener:
    """The protocol factory `loop.create_server` calls for each accepted connection, and the count of
    open connections, in all and per client, that the caps are checked against."""

    def __init__(self, server: web.Server, limits: HttpLimits) -> None:
        self.server = server
        self.limits = limits
        self.open = 0
        self.per_client: Counter[str] = Counter()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self.server(), self)

    def refusal(self, client: str) -> tuple[str, bytes] | None:
        """Why a new connection from `client` is refused (the drop reason and the answer), if it is."""
        if self.per_client[client] >= self.limits.max_per_client:
            return "too_many_client_connections", _CLIENT_SHARE
        if self.open >= self.limits.max_connections:
            return "too_many_connections", _TOO_MANY
        return None

    def admit(self, client: str) -> None:
        self.open += 1
        self.per_client[client] += 1

    def release(self, client: str) -> None:
        self.open -= 1
        self.per_client[client] -= 1
        if not self.per_client[client]:
            del self.per_client[client]


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
