"""The GC policy: full collections leave the automatic schedule and run on their own timer."""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import Iterator

import pytest

from exporter.gcpolicy import NEVER, collect_periodically, settle_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_heap_freezes_startup_objects_and_stops_automatic_full_collections(restore_gc: None) -> None:
    young, middle, _ = gc.get_threshold()
    startup = {"kept": ["for the whole process"]}
    assert any(o is startup for o in gc.get_objects())
    settle_heap()
    assert not any(o is startup for o in gc.get_objects()), "frozen: no collection walks it any more"
    assert gc.get_threshold() == (young, middle, NEVER)
    later = {"made": ["after start-up"]}
    assert any(o is later for o in gc.get_objects()), "what polls allocate stays collectable"


async def test_full_collections_run_on_their_schedule() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(collect_periodically(0.01, lambda: runs.append(loop.time())))
    for _ in range(500):  # bounded: at most 5 s
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runs) >= 3
    assert all(b - a >= 0.009 for a, b in itertools.pairwise(runs)), "one per interval, not back to back"
