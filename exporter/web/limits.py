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
  nor one client holding sockets open can take the listener away from everyone else. A connection
  counts from the moment it is accepted: on a TLS listener the handshake starts only once it is
  admitted (a refused one is closed before it, without an answer), so sockets that never finish a
  handshake cannot pile up beside the caps, each holding TLS buffers until the handshake timeout;
- an idle kept-alive connection is closed after `IDLE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
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

    It is made for the plain TCP connection, so that the caps are checked when the connection is
    accepted; on a TLS listener it then starts the handshake (`loop.start_tls`) and hands aiohttp the
    TLS transport once that is done.

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
        self._handshaking: asyncio.Transport | None = None
        """The TCP transport while the TLS handshake runs on it."""
        self._early: list[bytes | None] = []
        """What the TLS layer delivered between the end of the handshake and aiohttp getting the
        connection (data, or None for an end of file), handed on in order once it has it."""

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
            if self._handshaking is not None:  # the TLS handshake is not done: closed without a word
                self._listener.limits.on_drop("header_timeout")
                self._handshaking.close()
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
        before any is connected."""
        assert isinstance(transport, asyncio.Transport)
        listener = self._listener
        client = _client_of(transport)
        refusal = listener.refusal(client)
        if refusal is not None:
            reason, answer = refusal
            if listener.ssl_context is None:
                transport.write(answer)  # answered and closed without reading anything
            transport.close()  # on a TLS listener before any handshake: a refusal costs no TLS state
            listener.limits.on_drop(reason)
            return
        self._client = client
        listener.admit(client)
        if listener.ssl_context is None:
            self._connect(transport)
            return
        transport.pause_reading()  # nothing is read before the handshake has started
        self._handshaking = transport
        self._arm()  # the header clock runs from the accept: the handshake and the first request's head
        listener.handshake(self._handshake(transport, listener.ssl_context))

    async def _handshake(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        """TLS on an admitted connection. A failed handshake, or one closed by the header clock, is
        released here without a log line, as asyncio's own server does."""
        if self._client is None:  # lost (the site closing) before the handshake could start
            return
        loop = asyncio.get_running_loop()
        backstop = 2 * self._listener.limits.header_timeout  # the header clock closes it first
        try:
            tls = await loop.start_tls(transport, self, context, server_side=True, ssl_handshake_timeout=backstop)
        except Exception:
            self.connection_lost(None)  # a no-op if the connection was lost already
            return
        except asyncio.CancelledError:
            self.connection_lost(None)
            raise
        if not isinstance(tls, asyncio.WriteTransport):  # None: lost as (or just after) the handshake ended
            self.connection_lost(None)
        elif self._client is not None:  # not lost since the handshake ended
            self._connect(tls)

    def _connect(self, transport: asyncio.WriteTransport) -> None:
        """Hand the connection (plain, or TLS once its handshake is done) to aiohttp, on the header clock."""
        self._handshaking = None
        self._transport = transport
        self._inner.connection_made(transport)
        self._arm()
        early, self._early = self._early, []
        for data in early:
            if data is None:
                self.eof_received()
            else:
                self.data_received(data)

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
        if self._transport is None:
            self._early.append(data)
            return
        if self._feed(data):
            self._disarm()
        else:
            self._arm()  # a head is unfinished: on the clock from its first byte (kept if already running)

    def eof_received(self) -> None:
        if self._client is None:
            return
        if self._transport is None:
            self._early.append(None)
            return
        self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._client is not None and self._transport is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._client is not None and self._transport is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        connected = self._transport is not None
        self._disarm()
        self._transport = None
        self._handshaking = None
        self._payload = None
        self._early = []
        self._listener.release(client)
        if connected:
            self._inner.connection_lost(exc)


class _Listener:
    """The protocol factory `loop.create_server` calls for each accepted connection, and the count of
    open connections, in all and per client, that the caps are checked against."""

    def __init__(self, server: web.Server, limits: HttpLimits, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = server
        self.limits = limits
        self.ssl_context = ssl_context
        """The listener speaks TLS: each admitted connection starts its handshake."""
        self.open = 0
        self.per_client: Counter[str] = Counter()
        self._handshakes: set[asyncio.Task[None]] = set()

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

    def handshake(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a connection's TLS handshake, kept until it ends (and cancelled by `close`)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    def close(self) -> None:
        for task in self._handshakes:
            task.cancel()


class Site:
    """One app served on its bound sockets, with `HttpLimits` applied."""

    def __init__(self, runner: web.AppRunner, servers: Sequence[asyncio.AbstractServer], listener: _Listener) -> None:
        self.runner = runner
        self.servers = tuple(servers)
        self._listener = listener

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        self._listener.close()
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
    listener = _Listener(runner.server, limits, ssl_context)
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []
    try:
        for sock in sockets:
            servers.append(await loop.create_server(listener, sock=sock, backlog=128))
    except BaseException:
        for server in servers:
            server.close()
        await runner.cleanup()
        raise
    return Site(runner, servers, listener)
