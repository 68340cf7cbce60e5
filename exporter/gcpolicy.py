"""Garbage-collector settings for a daemon whose heap is mostly there for good.

A full collection walks every object the polls keep (the snapshots and their samples), holds
the interpreter lock while it does, so every thread stops, the listeners' too, and in steady
state it finds nothing to free. What this policy is worth to scrapes: docs/benchmark.md.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

FULL_COLLECTION_INTERVAL_SECONDS = 300.0
"""How long cyclic garbage (an error's traceback, say) may wait for the scheduled full collection."""
NEVER = 1 << 30
"""A third-generation threshold no run reaches: full collections happen only on the schedule."""


def settle_heap() -> None:
    """Call once startup is done: freeze what lives as long as the process (modules, validators,
    sessions) out of the collector's reach, and leave full collections to `collect_periodically`.
    Young-generation collections stay automatic: they are short and keep cycles from piling up."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)


async def collect_periodically(
    interval: float = FULL_COLLECTION_INTERVAL_SECONDS, collect: Callable[[], object] = gc.collect
) -> None:
    """The full collections `settle_heap` takes away from the automatic schedule, one per `interval`."""
    while True:
        await asyncio.sleep(interval)
        collect()
