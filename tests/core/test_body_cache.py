"""/metrics bodies through BodyCache's public API: one build per change, off the loop, shared by every
scrape; a scrape never waits for a build except for the first body or a change a client caused; nothing
built for a form nobody scrapes; the runtime metrics read at each scrape, at the end."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import threading
import zlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from exporter.engine.state import SnapshotStore, TargetState
from exporter.engine.status import target_families
from exporter.metrics.body import Body
from exporter.metrics.body_cache import KEEP_BUILDING_FOR_SECONDS, BodyCache
from exporter.metrics.changes import Changes
from exporter.metrics.render import RenderedFamily
from exporter.metrics.spec import MetricSpec, SampleSetBuilder

G = MetricSpec("demo_value", "A value.", "gauge", ("device",))
DEADLINE = 10.0


class _Gate(Collector):
    """A self-metric collector that, once armed, holds the build thread inside its next build."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def collect(self) -> Iterator[Metric]:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait(DEADLINE)
        return iter(())


class _Ticks(Collector):
    """A counter that counts its own reads."""

    def __init__(self) -> None:
        self.reads = itertools.count(1)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("process_demo_reads", "Reads.")
        family.add_metric([], next(self.reads))
        yield family


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fleet:
    """A store wired to a Changes, as the daemon wires them, and a count of body builds."""

    def __init__(self) -> None:
        self.changes = Changes()
        self.store = SnapshotStore(self.changes.changed)
        self.builds = 0
        self.gate = _Gate()
        self.registry = CollectorRegistry()
        self.registry.register(self.gate)
        self.runtime = CollectorRegistry()
        self.runtime.register(_Ticks())
        self.clock = _Clock()
        self.cache = BodyCache(self.families, self.registry, self.runtime, self.changes, clock=self.clock)

    def families(self, names: frozenset[str] | None) -> Iterator[RenderedFamily]:
        if names is None:
            self.builds += 1
        return target_families(self.store.states.values(), lambda key: 60.0, names)

    def publish(self, value: float) -> None:
        b = SampleSetBuilder()
        b.add(G, value, "d1")
        self.store.put(TargetState("demo", "t1").after_success(b.build(), 0.1, 1.0))

    async def held_build(self) -> None:
        """Arm the gate, make a change, and return once its build is held inside the gate."""
        self.gate.armed = True
        self.publish(99)
        assert await asyncio.to_thread(self.gate.entered.wait, DEADLINE), "the build reached the gate"


async def scrape(cache: BodyCache, openmetrics: bool = False) -> bytes:
    """What a gzip scrape gets, decompressed (and checked against the plain form of the same body)."""
    body = await asyncio.wait_for(cache.current(openmetrics), DEADLINE)
    runtime = cache.runtime(openmetrics)
    plain = b"".join(body.plain(runtime))
    assert zlib.decompress(body.gzipped(runtime), 31) == plain, "one gzip member, CRC and length right"
    return plain


async def eventually(cache: BodyCache, needle: bytes, openmetrics: bool = False, present: bool = True) -> bytes:
    """Scrape until the body shows `needle` (or, `present` False, no longer shows it; bounded by DEADLINE)."""
    for _ in range(int(DEADLINE / 0.01)):
        body = await scrape(cache, openmetrics)
        if (needle in body) == present:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never {'showed up' if present else 'went away'}")


V1, V2, V3 = (f'demo_value{{device="d1"}} {v}.0'.encode() for v in (1, 2, 3))


async def test_the_first_scrape_waits_for_a_body_then_every_scrape_shares_it() -> None:
    fleet = Fleet()
    fleet.publish(1)
    first = await fleet.cache.current(False)
    assert V1 in b"".join(first.parts) and await fleet.cache.current(False) is first and fleet.builds == 1


async def test_each_change_is_built_once_without_a_scrape_asking() -> None:
    fleet = Fleet()
    fleet.publish(1)
    await scrape(fleet.cache)
    fleet.publish(2)
    await eventually(fleet.cache, V2)
    assert fleet.builds == 2
    fleet.store.remove(("demo", "t1"))
    await eventually(fleet.cache, b"demo_value{", present=False)
    assert fleet.builds == 3


async def test_every_form_decompresses_to_its_plain_body() -> None:
    fleet = Fleet()
    fleet.publish(1)
    text, om = await scrape(fleet.cache, False), await scrape(fleet.cache, True)
    assert V1 in text and V1 in om and om.endswith(b"# EOF\n") and not text.endswith(b"# EOF\n")
    assert b'powerstrip_exporter_target_up{source="demo",target="t1"} 1.0' in text


async def test_a_scrape_during_a_build_gets_the_previous_body_at_once() -> None:
    fleet = Fleet()
    fleet.publish(1)
    await scrape(fleet.cache)
    await fleet.held_build()
    try:
        assert V1 in await scrape(fleet.cache), "answered while the build is held"
    finally:
        fleet.gate.release.set()
    await eventually(fleet.cache, b'demo_value{device="d1"} 99.0')


async def test_changes_during_a_build_share_one_more_build() -> None:
    fleet = Fleet()
    fleet.publish(1)
    await scrape(fleet.cache)
    await fleet.held_build()
    for value in range(3, 13):
        fleet.publish(value)
    fleet.gate.release.set()
    await eventually(fleet.cache, b'demo_value{device="d1"} 12.0')
    assert fleet.builds == 3, "the first body, the held build, and one for the ten changes made meanwhile"


async def test_a_change_a_client_caused_is_never_hidden() -> None:
    """Neither by the newest body nor by a build that read the state before the change."""
    fleet = Fleet()
    fleet.publish(1)
    await scrape(fleet.cache)
    await fleet.held_build()
    fleet.publish(3)
    fleet.changes.changed(by_client=True)  # an action or a reload: the next scrape must include it
    pending = asyncio.ensure_future(scrape(fleet.cache))
    await asyncio.sleep(0.05)
    assert not pending.done(), "the scrape waits"
    fleet.gate.release.set()
    assert V3 in await pending


async def test_nobody_scraping_nothing_is_built() -> None:
    fleet = Fleet()
    for value in range(5):
        fleet.publish(value)
    await asyncio.sleep(0.05)
    assert fleet.builds == 0


async def test_a_form_nobody_scraped_for_a_while_is_no_longer_built_nor_kept() -> None:
    fleet = Fleet()
    fleet.publish(1)
    await scrape(fleet.cache)
    fleet.clock.now += KEEP_BUILDING_FOR_SECONDS + 1
    fleet.publish(2)
    fleet.publish(3)
    await asyncio.sleep(0.05)
    assert fleet.builds == 1, "no build after the form went unasked"
    assert V3 in await scrape(fleet.cache), "the old body was dropped: the next scrape waits for a current one"
    assert fleet.builds == 2


async def test_runtime_metrics_are_read_at_each_scrape_and_end_the_body_without_a_rebuild() -> None:
    fleet = Fleet()
    fleet.publish(1)
    first, second = await scrape(fleet.cache, True), await scrape(fleet.cache, True)
    assert b"process_demo_reads_total 1.0" in first and b"process_demo_reads_total 2.0" in second
    assert second.endswith(b"process_demo_reads_total 2.0\n# EOF\n") and fleet.builds == 1


def test_a_selection_holds_only_the_named_families() -> None:
    fleet = Fleet()
    fleet.publish(1)
    text = fleet.cache.selection(False, frozenset({"powerstrip_exporter_target_up", "process_demo_reads_total"}))
    assert b'powerstrip_exporter_target_up{source="demo",target="t1"} 1.0' in text
    assert b"process_demo_reads_total" in text and b"demo_value" not in text and b"polls_total" not in text
    assert fleet.cache.selection(True, frozenset({"demo_value"})).endswith(V1 + b"\n# EOF\n")
    assert fleet.builds == 0, "a selection builds no body"


def test_a_status_selection_reads_no_runtime_metrics() -> None:
    fleet = Fleet()
    fleet.publish(1)
    fleet.cache.selection(False, frozenset({"powerstrip_exporter_target_up"}))
    text = fleet.cache.selection(False, frozenset({"process_demo_reads_total"}))
    assert b"process_demo_reads_total 1.0" in text, "the first read of the runtime registry"


def test_the_gzip_form_is_what_gzip_makes_of_the_text() -> None:
    parts = [f'demo_value{{device="d{i}"}} {i}.0\n'.encode() for i in range(5000)]
    body = Body.build(1, False, parts)
    text = b"".join(parts)
    ours = body.gzipped(b"tail 1\n")
    assert gzip.decompress(ours) == text + b"tail 1\n" and body.size == len(text)
    assert len(ours) <= 1.01 * len(gzip.compress(text + b"tail 1\n", 6))
