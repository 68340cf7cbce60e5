"""A network's usage answers are counted as they arrive: never all alive at once.

Each answer is hundreds of objects a strip (a window of samples, each with its ports); held
until the whole cycle ended, a network's answers set the process's memory high-water mark, which
CPython's allocator does not give back.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.models import UsageSample
from exporter.sources.cloudtrax.source import NetworkTarget
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import KEY, SECRET, FakeClock, make_entry, make_group, only_target

STRIPS = 30
SLOTS = 3


class Answer(list[UsageSample]):
    """A usage answer that can be watched (a plain list takes no weak reference)."""

    __hash__ = object.__hash__  # type: ignore[assignment]


@pytest.fixture
async def network() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(key=KEY, secret=SECRET, strips=STRIPS, networks=1) as simulator:
        for strip in simulator.state.strips.values():
            strip.online = True
            strip.ports[0].enable, strip.ports[0].load_w = True, 40.0
        yield simulator


def watch_usage_answers(target: NetworkTarget) -> tuple[list[int], weakref.WeakSet[Answer]]:
    """Record, at the start of every usage call, how many earlier answers are still alive."""
    client = target.client
    read = client.get_usage
    alive_at_call: list[int] = []
    alive: weakref.WeakSet[Answer] = weakref.WeakSet()

    async def get_usage(*args: Any, **kwargs: Any) -> list[UsageSample]:
        alive_at_call.append(len(alive))
        answer = Answer(await read(*args, **kwargs))
        alive.add(answer)
        return answer

    client.get_usage = get_usage  # type: ignore[method-assign]
    return alive_at_call, alive


async def test_usage_answers_are_counted_as_they_arrive(network: CloudTraxSimulator, clock: FakeClock) -> None:
    ledger = EnergyLedger()
    networks = list(network.state.networks)
    group = make_group(make_entry(network.url, networks=networks), clock=clock, ledger=ledger, max_concurrent=SLOTS)
    try:
        target = await only_target(group)
        await target.poll()  # the first poll reads no usage
        alive_at_call, alive = watch_usage_answers(target)
        await target.poll()
        assert len(alive_at_call) == STRIPS, "the second poll reads every strip's usage"
        # At most the answers in flight (one per request slot) are alive when a call starts; held to
        # the end of the cycle, the last call would see all the others.
        assert max(alive_at_call) <= SLOTS, alive_at_call
        assert not alive, "no answer outlives the poll"
        strip_ids = {s.powerstrip_id for s in network.state.strips.values()}
        assert all(ledger.joules(networks[0], sid) for sid in strip_ids), "every strip's answer was counted"
    finally:
        await group.aclose()


async def test_a_poll_that_fails_keeps_what_its_usage_answers_counted(
    network: CloudTraxSimulator, clock: FakeClock
) -> None:
    """Answers counted before a failure stay counted and are not read again before they are due;
    the high-water mark keeps any later read of the same window from counting them twice."""
    ledger = EnergyLedger()
    networks = list(network.state.networks)
    group = make_group(make_entry(network.url, networks=networks), clock=clock, ledger=ledger, max_concurrent=1)
    try:
        target = await only_target(group)
        await target.poll()
        client = target.client
        read = client.get_usage
        asked: list[int] = []
        failed = False

        async def fail_on_the_fifth(strip_id: int, *args: Any, **kwargs: Any) -> list[UsageSample]:
            nonlocal failed
            asked.append(strip_id)
            if len(asked) == 5 and not failed:
                failed = True
                raise RuntimeError("upstream went away")
            return await read(strip_id, *args, **kwargs)

        client.get_usage = fail_on_the_fifth  # type: ignore[method-assign]

        def marked() -> set[int]:
            return {s["powerstrip_id"] for s in ledger.export_state()}

        with pytest.raises(RuntimeError, match="went away"):
            await target.poll()
        assert marked() == set(asked[:4])
        first = list(asked)
        asked.clear()
        await target.poll()
        assert not set(asked) & set(first[:4]), "counted answers are not read again before they are due"
        assert marked() == {s.powerstrip_id for s in network.state.strips.values()}
    finally:
        await group.aclose()
