"""The one record of what `/metrics` shows having changed.

Everything that changes the page (a published target state, a self-metric update, an
action, a reload) calls `Changes.changed()`; the body cache reads `version` to know
whether a body is current and `since()` to know how long it has been outdated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

_REMEMBERED = 4096
"""Change times kept; an older one reads as long ago (a body that far behind is never fresh enough)."""


class Changes:
    """A version that bumps on every change, the time of each recent change, and the version of the
    last change a client caused (an action or a reload), which no scrape after it may miss.

    Written from the main loop only; read from any thread (each read is one attribute or dict lookup).
    """

    def __init__(self) -> None:
        self.version = 0
        self.client_version = 0
        """The version of the last change a client caused and expects to see at once."""
        self._at: dict[int, float] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change (on the thread that made it)."""
        self._listeners.append(listener)

    def changed(self, *, by_client: bool = False) -> None:
        """Call after the change is visible to readers: a body built from `version` includes it."""
        version = self.version + 1
        self._at[version] = time.monotonic()
        self._at.pop(version - _REMEMBERED, None)
        if by_client:
            self.client_version = version  # before `version`: whoever sees the new version sees this too
        self.version = version
        for listener in self._listeners:
            listener()

    def since(self, version: int) -> float:
        """When the first change after `version` happened (monotonic clock; -inf if forgotten)."""
        return self._at.get(version + 1, -math.inf)
