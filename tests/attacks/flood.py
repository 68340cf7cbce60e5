"""The connection flood of the off-switch attack: many idle sockets from one client address, each
opened again as soon as the exporter closes it (after its header timeout, or at once when refused).

Loopback is a /8, so a source address such as 127.0.0.2 stands for one client and 127.0.0.3 for
another: the exporter sees them as different peers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator


class Flood:
    """`async with Flood(port, "127.0.0.2", sockets=300) as flood:` holds up to `sockets` connections."""

    def __init__(self, port: int, source: str, *, sockets: int, reopen_after: float = 0.5) -> None:
        self.port = port
        self.source = source
        self.sockets = sockets
        self.reopen_after = reopen_after
        """Seconds a closed socket waits before it opens again (the attack re-opened about 31 a second)."""
        self.held = 0
        """Sockets connected now that the exporter has neither answered nor closed."""
        self.answers: Counter[str] = Counter()
        """How the exporter ended each connection: the status line's code, or `closed` without a word."""
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Flood:
        self._tasks = [asyncio.create_task(self._socket()) for _ in range(self.sockets)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def refused(self) -> int:
        """Connections answered 429 or 503 at once: the flood has reached a cap."""
        return self.answers["429"] + self.answers["503"]

    async def _socket(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                async with self._connection() as reader:
                    first = await reader.read(64)
                    self.answers[first[9:12].decode(errors="replace") if first else "closed"] += 1
            await asyncio.sleep(self.reopen_after)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncio.StreamReader]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(self.source, 0))
        self.held += 1
        try:
            yield reader
        finally:
            self.held -= 1
            writer.close()
