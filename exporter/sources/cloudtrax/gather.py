"""Concurrent calls that stop at the first failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


async def gather_or_fail(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run calls concurrently; on the first failure cancel the rest and raise it.

    A poll uses this so one broken strip does not keep spending requests, and a
    429 stops the cycle at once. Results keep the order of `calls`; when several
    fail together, the earliest in that order is raised.
    """
    tasks = [asyncio.ensure_future(call()) for call in calls]
    if not tasks:
        return []
    try:
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    if failed:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        exc = failed[0].exception()
        assert exc is not None
        raise exc
    return [t.result() for t in tasks]
