"""/metrics bodies: stale-while-revalidate within `max_stale`, never across a client-visible event."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.registry import Collector

from exporter.daemon import Daemon
from exporter.engine.state import SnapshotStore, TargetState
from exporter.metrics.exposition_cache import Exposition, _Body
from exporter.metrics.spec import MetricSpec, SampleSetBuilder
from tests.core.conftest import SOURCES

G = MetricSpec("demo_value", "A value.", "gauge", ("device",))


def publish(store: SnapshotStore, value: float, expo: Exposition | None = None) -> None:
    """A new snapshot; with `expo`, also the change notice the daemon wires (ProcessMetrics.on_change)."""
    b = SampleSetBuilder()
    b.add(G, value, "d1")
    store.put(TargetState("demo", "t1").after_success(b.build(), 0.1, 1.0))
    if expo is not None:
        expo.changed()


async def eventually_fresh(expo: Exposition, needle: bytes) -> bytes:
    """Scrape until the revalidated body shows `needle` (bounded: 200 tries, 10 ms apart)."""
    for _ in range(200):
        body = gzip.decompress(await expo.gzipped(False))
        if needle in body:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never showed up")


async def rendered_ahead(expo: Exposition, openmetrics: bool) -> _Body:
    """The served body once a background render caught up with the store (no scrape asks for it)."""
    for _ in range(200):  # bounded: at most ~2 s
        served = expo._served.get(openmetrics)
        if served is not None and served.key == expo._key():
            return served
        await asyncio.sleep(0.01)
    raise AssertionError(f"the {'OpenMetrics' if openmetrics else 'plain'} form was not rendered ahead")


async def test_a_changed_snapshot_is_served_stale_once_then_fresh() -> None:
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=60.0)
    assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await expo.gzipped(False))
    publish(store, 2, expo)
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
    publish(store, 2, expo)
    events[0] += 1  # an action or a reload happened: the next scrape must include it
    parts, _ = await expo.current_parts(False)
    assert b'demo_value{device="d1"} 2.0' in b"".join(parts)


async def test_the_stale_clock_runs_from_the_change_not_from_the_build() -> None:
    """A body current for longer than `max_stale` still answers at once right after a change: scrapes
    after a quiet spell (the first change of a poll cycle) must not wait for the render."""
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=0.05)
    await expo.gzipped(False)
    await asyncio.sleep(0.1)
    publish(store, 2, expo)
    assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await expo.gzipped(False))
    await eventually_fresh(expo, b'demo_value{device="d1"} 2.0')


async def test_a_body_stale_for_longer_than_max_stale_is_not_served() -> None:
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=0.05)
    await expo.gzipped(False)
    publish(store, 2, expo)
    await asyncio.sleep(0.1)
    assert b'demo_value{device="d1"} 2.0' in gzip.decompress(await expo.gzipped(False))


async def test_a_change_nobody_announced_is_never_served_stale() -> None:
    """Without a change notice the age of the staleness is unknown: wait for the current body."""
    store = SnapshotStore()
    publish(store, 1)
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=60.0)
    await expo.gzipped(False)
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


async def test_the_daemon_announces_every_change_to_its_exposition(tmp_path: Path) -> None:
    """Wiring: a snapshot published through the daemon's store starts the stale clock, so the scrape
    right after it is answered from the previous body instead of waiting."""
    (tmp_path / "c.yml").write_text("targets: []\n")
    daemon = Daemon(tmp_path / "c.yml", SOURCES)
    daemon.exposition.max_stale = 60.0
    publish(daemon.engine.store, 1)
    assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await daemon.exposition.gzipped(False))
    publish(daemon.engine.store, 2)  # no explicit notice: the daemon's own wiring must give it
    assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await daemon.exposition.gzipped(False))
    await eventually_fresh(daemon.exposition, b'demo_value{device="d1"} 2.0')


async def test_a_body_is_served_complete_even_when_changes_keep_coming_during_its_render() -> None:
    """A version that moves on every read: each render is outdated before it ends, and a gzip scrape
    must still get the gzip form of the body just rendered, never a newer one without it."""
    store = SnapshotStore()
    publish(store, 1)
    ticks = iter(range(1_000_000))
    expo = Exposition(store, CollectorRegistry(), lambda: next(ticks))
    for _ in range(5):
        assert b'demo_value{device="d1"} 1.0' in gzip.decompress(await expo.gzipped(False))
        parts, size = await expo.current_parts(True)
        assert size == len(b"".join(parts))


async def test_a_change_is_rendered_in_the_background_before_any_scrape_asks() -> None:
    """The next scrape, however late it comes, then finds the body ready instead of waiting for it."""
    store = SnapshotStore()
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=0.05)
    publish(store, 1, expo)
    served = await rendered_ahead(expo, openmetrics=False)
    assert served.gzipped is not None, "the gzip form is rendered with it"
    assert b'demo_value{device="d1"} 1.0' in b"".join(served.parts)
    assert gzip.decompress(await expo.gzipped(False)) == b"".join(served.parts)


class _Gate(Collector):
    """A self-metric collector that, once armed, holds the render thread inside a render."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def collect(self) -> Iterator[Metric]:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait(5)
        return iter(())


async def test_an_event_during_a_render_is_not_hidden_by_that_render() -> None:
    """A render that read the state before an action must not answer the scrape after the action."""
    store = SnapshotStore()
    registry = CollectorRegistry()
    gate = _Gate()
    registry.register(gate)
    events = [0]
    versions = [0]
    expo = Exposition(store, registry, lambda: versions[0], max_stale=60.0, events=lambda: events[0])
    publish(store, 1, expo)
    await expo.current_parts(False)
    gate.armed = True
    publish(store, 2, expo)
    await expo.current_parts(False)  # served stale at once; starts a render that stops in the gate
    assert await asyncio.to_thread(gate.entered.wait, 5), "the render reached the gate"
    publish(store, 3, expo)
    events[0] += 1  # an action happened after the render read the state
    versions[0] += 1
    scrape = asyncio.ensure_future(expo.current_parts(False))
    await asyncio.sleep(0.05)
    gate.release.set()
    parts, _ = await asyncio.wait_for(scrape, 5)
    assert b'demo_value{device="d1"} 3.0' in b"".join(parts)


async def test_only_the_forms_scrapers_ask_for_are_rendered_ahead() -> None:
    """Prometheus negotiates OpenMetrics: then the plain-text form is not rendered for nobody."""
    store = SnapshotStore()
    expo = Exposition(store, CollectorRegistry(), lambda: 0, max_stale=0.05)
    publish(store, 1)
    await expo.current_parts(True)
    publish(store, 2, expo)
    await rendered_ahead(expo, openmetrics=True)
    assert False not in expo._served and False not in expo._bodies, "plain text was never asked for"
