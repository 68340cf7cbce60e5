"""/metrics bodies through BodyCache's public API: one build per change, stale-while-revalidate within
the stale window, never across a change a client caused, and the process metrics at the end."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import threading
import time
import zlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from exporter.engine.state import SnapshotStore, TargetState
from exporter.engine.status import target_families
from exporter.metrics.body import Body
from exporter.metrics.body_cache import BodyCache
from exporter.metrics.changes import Changes
from exporter.metrics.process_tail import ProcessTail
from exporter.metrics.spec import MetricSpec, SampleSetBuilder

G = MetricSpec("demo_value", "A value.", "gauge", ("device",))


class Fleet:
    """A store wired to a Changes, as the daemon wires them, and a count of body builds."""

    def __init__(self, registry: CollectorRegistry | None = None, process: CollectorRegistry | None = None) -> None:
        self.changes = Changes()
        self.store = SnapshotStore(self.changes.changed)
        self.builds = 0
        self.registry = registry or CollectorRegistry()
        self.process = process or CollectorRegistry()

    def families(self) -> Iterator[tuple[MetricSpec, bytes]]:
        self.builds += 1
        return target_families(self.store.states.values(), lambda key: 60.0)

    def cache(self, max_stale: float = 0.0, tail_every: float = 0.0) -> BodyCache:
        tail = ProcessTail(self.process, every=tail_every)
        return BodyCache(self.families, self.registry, tail, self.changes, max_stale=max_stale)

    def publish(self, value: float) -> None:
        b = SampleSetBuilder()
        b.add(G, value, "d1")
        self.store.put(TargetState("demo", "t1").after_success(b.build(), 0.1, 1.0))


async def scrape(cache: BodyCache, openmetrics: bool = False) -> bytes:
    """What a gzip scrape gets, decompressed (and checked against the plain form of the same body)."""
    body = await cache.current(openmetrics)
    tail = cache.tail(openmetrics)
    plain = b"".join(body.parts(tail))
    assert zlib.decompress(body.gzipped(tail), 31) == plain, "one gzip member, CRC and length right"
    return plain


async def eventually(cache: BodyCache, needle: bytes, tries: int = 300) -> bytes:
    """Scrape until the body shows `needle` (bounded: `tries` tries, 10 ms apart)."""
    for _ in range(tries):
        body = await scrape(cache)
        if needle in body:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never showed up")


V1, V2, V3 = (f'demo_value{{device="d1"}} {v}.0'.encode() for v in (1, 2, 3))


async def test_one_build_per_change_shared_by_every_scrape() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache()
    first = await cache.current(False)
    assert await cache.current(False) is first and fleet.builds == 1
    fleet.publish(2)
    assert V2 in await scrape(cache) and fleet.builds == 2
    fleet.store.remove(("demo", "t1"))
    assert b"demo_value{" not in await scrape(cache)


async def test_every_form_decompresses_to_its_plain_body() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache()
    text, om = await scrape(cache, False), await scrape(cache, True)
    assert V1 in text and V1 in om and om.endswith(b"# EOF\n") and not text.endswith(b"# EOF\n")
    assert b'powerstrip_exporter_target_up{source="demo",target="t1"} 1.0' in text


async def test_a_change_is_served_stale_once_then_fresh() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=1.0)
    assert V1 in await scrape(cache)
    fleet.publish(2)
    assert V1 in await scrape(cache), "the previous complete body, at once"
    fresh = await eventually(cache, V2)
    assert V1 not in fresh


async def test_without_max_stale_every_scrape_waits_for_the_current_body() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache()
    await scrape(cache)
    fleet.publish(2)
    assert V2 in await scrape(cache)


async def test_a_change_a_client_caused_is_never_hidden_by_a_stale_body() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=60.0)
    await scrape(cache)
    fleet.publish(2)
    fleet.changes.changed(by_client=True)  # an action or a reload: the next scrape must include it
    assert V2 in await scrape(cache)


async def test_the_stale_clock_runs_from_the_change_not_from_the_build() -> None:
    """A body current for longer than `max_stale` still answers at once right after a change: scrapes
    after a quiet spell (the first change of a poll cycle) must not wait for the build."""
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=0.5)
    await scrape(cache)
    await asyncio.sleep(0.6)
    fleet.publish(2)
    assert V1 in await scrape(cache)
    await eventually(cache, V2)


async def test_a_body_stale_for_longer_than_max_stale_is_not_served() -> None:
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=0.05)
    await scrape(cache)
    fleet.publish(2)
    await asyncio.sleep(0.1)
    assert V2 in await scrape(cache)


async def test_a_body_is_served_complete_even_when_changes_keep_coming_during_its_build() -> None:
    """Every build is outdated before it ends: a scrape still gets a complete body after a few tries."""
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache()
    original = fleet.families

    def changing() -> Iterator[tuple[MetricSpec, bytes]]:
        fleet.changes.changed()
        return original()

    fleet.families = changing  # type: ignore[method-assign]
    for openmetrics in (False, True):
        assert V1 in await scrape(cache, openmetrics)


async def test_a_change_is_built_ahead_once_someone_scrapes() -> None:
    """The next scrape, however late it comes, finds the body ready instead of waiting for it."""
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=0.05)
    await scrape(cache, openmetrics=True)
    fleet.publish(2)
    for _ in range(300):  # bounded: ~3 s
        if fleet.builds >= 2:
            break
        await asyncio.sleep(0.01)
    assert fleet.builds >= 2, "built without a scrape asking"
    body = await cache.current(True)
    assert V2 in body.text


async def test_a_scrape_served_at_once_starts_no_build() -> None:
    """Within the window a scrape gets the previous body and leaves the build to the build ahead,
    half a window after the change: a build started by the scrape would compete with its scraper."""
    fleet = Fleet()
    fleet.publish(1)
    cache = fleet.cache(max_stale=6.0)
    try:
        assert V1 in await scrape(cache)
        fleet.publish(2)
        for _ in range(20):
            assert V1 in await scrape(cache), "the previous complete body, at once"
        assert fleet.builds == 1, "no build before the build ahead is due (3 s after the change)"
        await eventually(cache, V2, tries=3000)  # bounded: ~30 s
        assert fleet.builds == 2, "the build ahead, once"
    finally:
        cache.close()


async def test_nobody_scraping_nothing_is_built() -> None:
    fleet = Fleet()
    cache = fleet.cache(max_stale=0.02)
    for value in range(5):
        fleet.publish(value)
        await asyncio.sleep(0.03)
    assert fleet.builds == 0
    cache.close()


class _Gate(Collector):
    """A self-metric collector that, once armed, holds the build thread inside a build."""

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


async def test_a_client_change_during_a_build_is_not_hidden_by_that_build() -> None:
    """A build that read the state before an action must not answer the scrape after the action."""
    registry = CollectorRegistry()
    gate = _Gate()
    registry.register(gate)
    fleet = Fleet(registry)
    cache = fleet.cache(max_stale=0.2)
    fleet.publish(1)
    await scrape(cache)
    gate.armed = True
    fleet.publish(2)  # built ahead 0.1 s later; that build stops in the gate
    assert await asyncio.to_thread(gate.entered.wait, 5), "the build reached the gate"
    fleet.publish(3)
    fleet.changes.changed(by_client=True)
    pending = asyncio.ensure_future(scrape(cache))
    await asyncio.sleep(0.05)
    gate.release.set()
    assert V3 in await asyncio.wait_for(pending, 5)


class _Ticks(Collector):
    """A counter that counts its own reads."""

    def __init__(self) -> None:
        self.reads = itertools.count(1)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("process_demo_reads", "Reads.")
        family.add_metric([], next(self.reads))
        yield family


async def test_process_metrics_read_at_each_scrape_end_the_body_without_a_rebuild() -> None:
    process = CollectorRegistry()
    process.register(_Ticks())
    fleet = Fleet(process=process)
    fleet.publish(1)
    cache = fleet.cache()
    first, second = await scrape(cache, True), await scrape(cache, True)
    assert b"process_demo_reads_total 1.0" in first and b"process_demo_reads_total 2.0" in second
    assert second.endswith(b"process_demo_reads_total 2.0\n# EOF\n") and fleet.builds == 1


async def test_process_metrics_serve_the_scrapes_of_the_next_second() -> None:
    process = CollectorRegistry()
    process.register(_Ticks())
    fleet = Fleet(process=process)
    fleet.publish(1)
    cache = fleet.cache(tail_every=60.0)
    try:
        first, second = await scrape(cache, True), await scrape(cache, True)
        assert b"process_demo_reads_total 1.0" in first and first == second
    finally:
        cache.close()


def test_a_selection_holds_only_the_named_families() -> None:
    process = CollectorRegistry()
    process.register(_Ticks())
    fleet = Fleet(process=process)
    fleet.publish(1)
    cache = fleet.cache()
    text = cache.selection(False, frozenset({"powerstrip_exporter_target_up", "process_demo_reads_total"}))
    assert b'powerstrip_exporter_target_up{source="demo",target="t1"} 1.0' in text
    assert b"process_demo_reads_total" in text and b"demo_value" not in text and b"polls_total" not in text
    assert cache.selection(True, frozenset({"demo_value"})).endswith(V1 + b"\n# EOF\n")


def test_the_gzip_form_is_what_gzip_makes_of_the_text() -> None:
    text = b"".join(f'demo_value{{device="d{i}"}} {i}.0\n'.encode() for i in range(5000))
    body = Body.build(1, False, text)
    ours = body.gzipped(b"tail 1\n")
    assert gzip.decompress(ours) == text + b"tail 1\n"
    assert len(ours) <= 1.01 * len(gzip.compress(text + b"tail 1\n", 6))


async def test_when_builds_are_slow_the_stale_window_grows_with_them() -> None:
    """A body cannot be fresher than it takes to build: with builds of at least 0.2 s and ten times
    that as the window, a scrape right after a change gets the previous body at once."""
    fleet = Fleet()
    families = fleet.families

    def slow() -> Iterator[tuple[MetricSpec, bytes]]:
        time.sleep(0.2)
        return families()

    fleet.families = slow  # type: ignore[method-assign]
    fleet.publish(1)
    tail = ProcessTail(fleet.process, every=0.0)
    cache = BodyCache(fleet.families, fleet.registry, tail, fleet.changes, max_stale=0.01, stale_per_build=10.0)
    try:
        assert V1 in await scrape(cache)
        assert cache.stale_window >= 2.0
        fleet.publish(2)
        builds = fleet.builds
        assert V1 in await scrape(cache), "within the window: the previous body, no wait"
        assert await eventually(cache, V2)
        assert fleet.builds > builds
    finally:
        cache.close()


def test_without_stale_per_build_the_window_is_max_stale() -> None:
    fleet = Fleet()
    cache = fleet.cache(max_stale=0.5)
    try:
        cache.build(False)
        assert cache.stale_window == 0.5
    finally:
        cache.close()
