"""A failed poll leaves nothing for the cycle collector: what it read is freed by reference counting
as soon as the poll is over, whatever way it failed (an error, several at once, a timeout).

Each call holds an `Answer` in a local variable of the frame that fails, as a client holds a refused
body while it raises. With the cycle collector off, a weak reference to it must be dead once the
poll has been published: a cycle through a traceback (a task keeping its exception, a dict of
errors held by the frames in their tracebacks) would keep it until a full collection.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable, Iterator

import pytest

from exporter.config.types import PollSettings
from exporter.engine.runner import TargetRunner
from exporter.engine.state import SnapshotStore
from exporter.metrics.spec import SampleSet
from exporter.sources.api import PollError, Target
from exporter.sources.cloudtrax.gather import gather_or_fail


class Answer:
    """Stands for a refused body (bytes cannot be weakly referenced)."""


class FailingTarget(Target):
    """Polls `calls` through `gather_or_fail`, as the CloudTrax target does."""

    def __init__(self, make_calls: Callable[[list[weakref.ref[Answer]]], list[Callable[[], Awaitable[None]]]]) -> None:
        super().__init__("t", PollSettings(interval=1.0, timeout=0.2, stale_after=60.0))
        self.make_calls = make_calls
        self.answers: list[weakref.ref[Answer]] = []

    async def poll(self) -> SampleSet:
        await gather_or_fail(self.make_calls(self.answers), limit=4)
        raise AssertionError("every case fails")


def refused(seen: list[weakref.ref[Answer]], fail: bool = True, hang: bool = False) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        answer = Answer()
        seen.append(weakref.ref(answer))
        await asyncio.sleep(0)
        if hang:
            await asyncio.sleep(3600)
        if fail:
            raise PollError("bad_response", "a list of 2633328 elements exceeds max_items_per_answer (10000)")

    return call


CASES = {
    "one refused answer": lambda seen: [refused(seen)],
    "several refused together": lambda seen: [refused(seen) for _ in range(4)],
    "refused beside calls in flight": lambda seen: [refused(seen), *(refused(seen, hang=True) for _ in range(3))],
    "timed out mid-call": lambda seen: [refused(seen, hang=True) for _ in range(4)],
    "an unexpected error": lambda seen: [lambda: _unexpected(seen)],
}


async def _unexpected(seen: list[weakref.ref[Answer]]) -> None:
    answer = Answer()
    seen.append(weakref.ref(answer))
    await asyncio.sleep(0)
    raise KeyError("schedule")


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("case", list(CASES))
async def test_a_failed_poll_frees_what_it_read_without_the_cycle_collector(
    no_cycle_collector: None, case: str
) -> None:
    target = FailingTarget(CASES[case])
    runner = TargetRunner("fake", target, SnapshotStore(), jitter=0, backoff_max=1.0)
    await runner.poll_once()
    assert runner.state.failures, "the poll failed"
    await asyncio.sleep(0)  # cancelled calls finish their cancellation
    assert target.answers, "the calls ran"
    alive = [ref for ref in target.answers if ref() is not None]
    assert alive == [], f"{len(alive)} of {len(target.answers)} answers wait for the cycle collector"
