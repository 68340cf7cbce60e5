"""Log lines about refused requests at a bounded rate, per client, with a count of what was left out.

Every refusal is worth a line until someone floods: then one client could write gigabytes of log an
hour for free, and bury the lines that matter. So each client (counted as the failure limiter counts
it: an IPv6 /64 is one client) gets `lines_per_client` refusal lines per `window`; past that its
refusals are only counted, and one line at the window's end says how many were left out. Allowed
actions never pass through here: they are always logged in full.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from exporter.actions.auth import client_key

log = structlog.get_logger("exporter.actions")

MAX_CLIENTS = 100
"""Clients with a budget of their own in one window; further ones share the last one's, so many
addresses buy no more log than `MAX_CLIENTS + 1` clients would."""
OTHER_CLIENTS = "others"


class RefusalLog:
    """Refusal log lines, at most `lines_per_client` per client per `window` (fixed windows)."""

    def __init__(self, lines_per_client: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lines_per_client = lines_per_client
        self.window = window
        self._clock = clock
        self._started: float | None = None
        self._logged: dict[str, int] = {}
        self._left_out: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def info(self, logger: Any, event: str, *, client: str, **fields: Any) -> None:
        """Log `event` (with `client` and `fields`) on `logger` if the client has budget left, else count it."""
        now = self._clock()
        if self._started is None or now - self._started >= self.window:
            self.flush()
            self._started = now
        key = client_key(client)
        if key not in self._logged and len(self._logged) >= MAX_CLIENTS:
            key = OTHER_CLIENTS
        logged = self._logged.get(key, 0)
        if logged < self.lines_per_client:
            self._logged[key] = logged + 1
            logger.info(event, client=client, **fields)
            return
        self._left_out[key] = self._left_out.get(key, 0) + 1
        if self._timer is None:
            self._flush_at_window_end(self._started + self.window - now)

    def _flush_at_window_end(self, delay: float) -> None:
        """On the event loop the count is logged when the window ends, even if the flood stopped;
        without one (a plain call) at the next refusal after it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(delay, 0.0), self.flush)

    def flush(self) -> None:
        """End the current window: one line per client whose refusals were left out, with their count."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for key, count in self._left_out.items():
            log.warning(
                "refusals left out of the log",
                client=key,
                left_out=count,
                logged=self._logged.get(key, 0),
                window_seconds=self.window,
            )
        self._started = None
        self._logged.clear()
        self._left_out.clear()
