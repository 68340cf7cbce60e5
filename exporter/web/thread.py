"""The HTTP listeners on an event loop of their own, so a scrape never queues behind a poll.

Polling keeps the main loop busy: at a thousand strips it parses hundreds of
responses a second and builds tens of thousands of samples per network. A scrape
served on that loop waits for whatever callback is running, often tens of
milliseconds. On its own thread the listener only waits for the GIL, which the
poll loop hands over every `SWITCH_INTERVAL`; `/metrics` itself only reads
immutable snapshots and built bodies. What both are worth: docs/benchmark.md.

Handlers that change or drive the daemon (reload, the action API) are not
thread-safe and don't need to be fast: `to_main_loop` runs them on the main loop,
exactly as before. Handlers marked `@web_thread_safe` run where they are. A handler
on the main loop never touches the request stream: what body it wants is read on
this loop first (`exporter.actions.body`).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

SWITCH_INTERVAL = 0.0001
"""Seconds a thread may hold the GIL while another waits (CPython's default is 5 ms). A scrape takes
the GIL back after each socket call, so under a busy poll its wait is a few of these: the gzip tail
during polls grows with it (docs/benchmark.md)."""

_T = TypeVar("_T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SAFE = "_web_thread_safe"


def web_thread_safe(handler: Handler) -> Handler:
    """Mark a handler that only reads immutable or thread-safe state: it runs on the web thread."""
    setattr(handler, _SAFE, True)
    return handler


def to_main_loop(main: asyncio.AbstractEventLoop) -> Any:
    """Innermost middleware: run every handler not marked thread-safe on the main loop."""

    @web.middleware
    async def dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if getattr(handler, _SAFE, False) or asyncio.get_running_loop() is main:
            return await handler(request)
        # The stream belongs to this loop: a handler that wants the body declares it (`exporter.actions.body`)
        # and it is read here, before the hop, within the body read timeout.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_call(handler, request), main))

    return dispatch


async def _call(handler: Handler, request: web.Request) -> web.StreamResponse:
    return await handler(request)


class WebThread:
    """A daemon thread running an event loop until `stop()`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()

    async def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Await `coro` on the web loop from the main loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop and wait for the thread; tasks still pending are dropped with the loop."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
