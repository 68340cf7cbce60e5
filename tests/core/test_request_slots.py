"""A source's shared request slots: targets whose last poll failed share at most half of them."""

from __future__ import annotations

import asyncio

import pytest

from exporter.sources.api import SourceContext, failing_share, poll_timeout


@pytest.mark.parametrize(("slots", "share"), [(1, 1), (2, 1), (3, 2), (16, 8), (1024, 512)])
def test_the_failing_share_is_half_rounded_up(slots: int, share: int) -> None:
    assert failing_share(slots) == share


async def test_hanging_requests_of_failing_targets_leave_slots_for_healthy_ones() -> None:
    ctx = SourceContext("x", 4)
    release = asyncio.Event()
    held, peak = 0, 0

    async def hanging(failing: bool) -> None:
        nonlocal held, peak
        async with poll_timeout(60, failing=failing), ctx.request("GET /x"):
            held += 1
            peak = max(peak, held)
            await release.wait()
            held -= 1

    stuck = [asyncio.create_task(hanging(failing=True)) for _ in range(10)]
    for _ in range(100):
        await asyncio.sleep(0)
    assert held == 2  # ten failing targets, two slots: the rest queue among themselves

    async def answering() -> None:
        async with poll_timeout(60), ctx.request("GET /x"):
            pass

    for _ in range(5):  # one after another, each gets a free slot at once
        await asyncio.wait_for(answering(), timeout=5)
    also_healthy = asyncio.create_task(hanging(failing=False))
    await asyncio.wait_for(answering(), timeout=5)  # the last free slot
    release.set()
    await asyncio.gather(*stuck, also_healthy)
    assert peak == 3


async def test_a_cancelled_wait_for_a_slot_gives_back_the_failing_share() -> None:
    ctx = SourceContext("x", 2)  # one slot for failing polls
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def hold(failing: bool) -> None:
        async with poll_timeout(60, failing=failing), ctx.request("GET /x"):
            entered.set()
            await gate.wait()

    healthy = [asyncio.create_task(hold(failing=False)) for _ in range(2)]  # every slot taken
    await asyncio.wait_for(entered.wait(), timeout=5)
    waiting = asyncio.create_task(hold(failing=True))  # takes the share, then waits for a slot
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    gate.set()
    await asyncio.gather(*healthy)
    gate.clear()
    entered.clear()
    again = asyncio.create_task(hold(failing=True))
    await asyncio.wait_for(entered.wait(), timeout=5)  # the share was given back
    gate.set()
    await asyncio.wait_for(again, timeout=5)
