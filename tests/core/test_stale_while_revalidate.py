"""/metrics bodies: stale-while-revalidate within `max_stale`, never across a client-visible event."""

from __future__ import annotations

import asyncio
import gzip

from prometheus_client import CollectorRegistry

from exporter.engine.state import SnapshotStore, TargetState
from exporter.metrics.exposition_cache import Exposition
from exporter.metrics.spec import MetricSpec, SampleSetBuilder

G = MetricSpec("demo_value", "A value.", "gauge", ("device",))


def publish(store: SnapshotStore, value: float) -> None:
    b = SampleSetBuilder()
    b.add(G, value, "d1")
    store.put(TargetState("demo", "t1").after_success(b.build(), 0.1, 1.0))


async def eventually_fresh(expo: Exposition, needle: bytes) -> bytes:
    """Scrape until the revalidated body shows `needle` (bounded: 200 tries, 10 ms apart)."""
    for _ in range(200):
        body = gzip.decompress(await expo.gzipped(False))
        if needle in body:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never showed up")


async def test_a_changed_snapshot_is_served_stale_once_then_fresh() -> None:
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=60.0)
    assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await expo.gzipped(False))
    publish(store, 2)
    stale = gzip.decompress(await expo.gzipped(False))
    assert b'demo_value{device="d1"} 1.0' in stale, "the previous complete body, not a half-built one"
    fresh = await eventually_fresh(expo, b'demo_value{device="d1"} 2.0')
    assert b"1.0" not in fresh.split(b"demo_value{")[1]


async def test_without_max_stale_every_scrape_waits_for_the_current_body() -> None:
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0)
    await expo.gzipped(False)
    publish(store, 2)
    assert b'demo_value{device="d1"} 2.0' in gzip.decompress(await expo.gzipped(False))
    parts, size = await expo.current_parts(False)
    assert b'demo_value{device="d1"} 2.0' in b"".join(parts) and size == len(b"".join(parts))


async def test_an_event_a_client_caused_is_never_hidden_by_a_stale_body() -> None:
    store = SnapshotStore()
    publish(store, 1)
    events = [0]
    expo = Exposition(store, CollectorRegistry(), lambda: events[0], max_stale=60.0, events=lambda: events[0])
    await expo.current_parts(False)
    publish(store, 2)
    events[0] += 1  # an action or a reload happened: the next scrape must include it
    parts, _ = await expo.current_parts(False)
    assert b'demo_value{device="d1"} 2.0' in b"".join(parts)


async def test_a_stale_body_older_than_max_stale_is_not_served() -> None:
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=0.05)
    await expo.gzipped(False)
    await asyncio.sleep(0.1)
    publish(store, 2)
    assert b'demo_value{device="d1"} 2.0' in gzip.decompress(await expo.gzipped(False))


async def test_status_lines_of_replaced_states_are_forgotten_on_every_path() -> None:
    """The per-state self-metric cache must not keep old states (and their samples) alive, also when
    only `name[]` selections are scraped (as a status probe does)."""
    store = SnapshotStore()
    expo = Exposition(store, CollectorRegistry(), lambda: 0, intervals=lambda key: 60.0)
    for value in range(50):
        publish(store, value)
        body = await expo.selection(False, frozenset({"powerstrip_exporter_target_up"}))
        assert b'powerstrip_exporter_target_up{source="demo",target="t1"} 1.0' in body
    assert len(expo._status) == 1
