"""gather_or_fail: bounded concurrency, results in order, and a stop at the first failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from exporter.sources.cloudtrax.gather import gather_or_fail


class Calls:
    """Calls that record how many run at once; `fail` names the indexes that raise."""

    def __init__(self, n: int, fail: frozenset[int] = frozenset(), steps: int = 3) -> None:
        self.n = n
        self.fail = fail
        self.steps = steps
        self.running = 0
        self.peak = 0
        self.started: list[int] = []
        self.cancelled: list[int] = []

    def __call__(self) -> list[Callable[[], Awaitable[int]]]:
        return [self._make(i) for i in range(self.n)]

    def _make(self, i: int) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            self.started.append(i)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                for _ in range(self.steps):
                    await asyncio.sleep(0)
                if i in self.fail:
                    raise ValueError(f"call {i} failed")
                return i * 10
            except asyncio.CancelledError:
                self.cancelled.append(i)
                raise
            finally:
                self.running -= 1

        return call


async def test_results_keep_the_order_of_the_calls_and_the_limit_holds() -> None:
    calls = Calls(100)
    assert await gather_or_fail(calls(), limit=7) == [i * 10 for i in range(100)]
    assert calls.peak == 7 and sorted(calls.started) == list(range(100))


async def test_without_a_limit_every_call_runs_at_once() -> None:
    calls = Calls(20)
    assert await gather_or_fail(calls()) == [i * 10 for i in range(20)]
    assert calls.peak == 20


async def test_no_calls_no_results() -> None:
    assert await gather_or_fail([], limit=4) == []


async def test_the_first_failure_cancels_the_calls_in_flight_and_starts_no_more() -> None:
    calls = Calls(100, fail=frozenset({5}))
    with pytest.raises(ValueError, match="call 5 failed"):
        await gather_or_fail(calls(), limit=4)
    # 0-3 finish together and 4-7 start together; in the step where 4-7 end, 4 ends first and its
    # worker starts 8, then 5 fails: 6 and 7 start nothing more, and 8 is cancelled.
    assert sorted(calls.started) == list(range(9)), "no call started after the failure"
    assert calls.cancelled == [8]
    assert calls.cancelled, "the calls in flight were cancelled"
    assert calls.running == 0


async def test_of_failures_together_the_earliest_in_call_order_is_raised() -> None:
    calls = Calls(4, fail=frozenset({1, 3}), steps=1)
    with pytest.raises(ValueError, match="call 1 failed"):
        await gather_or_fail(calls(), limit=4)
    assert calls.started == [0, 1, 2, 3] and calls.cancelled == [], "both failed in the same step"


async def test_cancelling_the_gather_cancels_every_call() -> None:
    calls = Calls(50, steps=1000)
    task = asyncio.ensure_future(gather_or_fail(calls(), limit=5))
    for _ in range(10):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls.running == 0 and len(calls.cancelled) == 5


async def test_a_base_exception_from_a_call_stops_the_rest_and_propagates() -> None:
    class Fatal(BaseException):
        pass

    started: list[int] = []

    def make(i: int) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            started.append(i)
            await asyncio.sleep(0)
            if i == 0:
                raise Fatal
            await asyncio.sleep(10)

        return call

    with pytest.raises(Fatal):
        await gather_or_fail([make(i) for i in range(10)], limit=2)
    assert started == [0, 1], "nothing started after the failure"


async def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await gather_or_fail([], limit=0)
