"""Concurrent calls that stop at the first failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


async def gather_or_fail(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int | None = None) -> list[Any]:
    """Run calls with at most `limit` in flight; on the first failure cancel the rest and raise it.

    A poll uses this so one broken strip does not keep spending requests, and a
    429 stops the cycle at once. Results keep the order of `calls`; when several
    fail together, the earliest in that order is raised.

    `limit` (the source's request slots) keeps a network of thousands of strips from holding
    thousands of tasks that would only queue for those slots: fewer live objects for the garbage
    collector to walk while a poll runs.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    results: list[Any] = [None] * len(calls)
    failures: dict[int, Exception] = {}
    indexes = iter(range(len(calls)))

    async def worker() -> None:
        for index in indexes:
            if failures:
                return  # another call failed: start nothing new
            try:
                results[index] = await calls[index]()
            except Exception as exc:
                failures[index] = exc
                raise

    workers = [asyncio.ensure_future(worker()) for _ in range(min(limit or len(calls), len(calls)))]
    try:
        return await _settle(workers, failures, results)
    finally:
        # Every worker frame holds this dict and every error's traceback holds a worker frame: cleared,
        # it leaves no cycle to keep the failed calls' answers alive until a full collection.
        failures.clear()


async def _settle(workers: list[asyncio.Task[None]], failures: dict[int, Exception], results: list[Any]) -> list[Any]:
    if not workers:
        return []
    try:
        _done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    if pending:  # stopped early: a call raised
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    errors = [task.exception() for task in workers if not task.cancelled()]  # each one retrieved
    if failures:
        raise failures[min(failures)]
    for error in errors:
        if error is not None:
            raise error  # a BaseException from inside a call
    for task in workers:
        task.result()  # re-raises a cancellation that came from inside a call
    return results
