"""Pre-rendered exposition agrees with prometheus_client's parsers, in both formats."""

from __future__ import annotations

import gzip
import math
import re

from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from exporter.engine.state import SnapshotStore, TargetState
from exporter.metrics.exposition_cache import Exposition
from exporter.metrics.spec import MetricSpec, SampleSetBuilder

G = MetricSpec(
    "demo_port_power_watts", 'Power with "quotes" and a back\\slash\nand a newline.', "gauge", ("strip", "port")
)
C = MetricSpec("demo_energy_joules_total", "Energy.", "counter", ("strip",))
INFO = MetricSpec("demo_strip_info", "Info.", "gauge", ("strip", "label"))


def store_with_two_targets() -> SnapshotStore:
    store = SnapshotStore()
    for target in ("t1", "t2"):
        b = SampleSetBuilder()
        b.add(G, 25.5, f"{target}-s", 4)
        b.add(G, 1e-7, f"{target}-s", 5)
        b.add(G, 1234567.0, f"{target}-s", 6)
        b.add(G, math.inf, f"{target}-s", 7)
        b.add(C, 10, f"{target}-s")
        b.add(INFO, 1, f"{target}-s", 'Monitor "A"\\ \nB ')
        store.put(TargetState("demo", target).after_success(b.build(), 0.1, 1.0))
    return store


def samples(families: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in families:  # type: ignore[attr-defined]
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_text_and_openmetrics_parse_to_the_same_samples() -> None:
    expo = Exposition(store_with_two_targets(), CollectorRegistry(), lambda: 0)
    text = expo.body(False).decode()
    om = expo.body(True).decode()
    assert om.endswith("# EOF\n") and not text.endswith("# EOF\n")
    assert text.count("# TYPE demo_port_power_watts gauge") == 1, "one family block across targets"
    assert "# TYPE demo_energy_joules_total counter" in text
    assert "# TYPE demo_energy_joules counter" in om
    a, b = samples(text_parse(text)), samples(om_parse(om))
    assert a == b
    assert a[("demo_port_power_watts", (("port", "4"), ("strip", "t1-s")))] == 25.5
    assert a[("demo_strip_info", (("label", 'Monitor "A"\\ \nB '), ("strip", "t2-s")))] == 1
    assert a[("demo_port_power_watts", (("port", "7"), ("strip", "t2-s")))] == math.inf
    assert len(a) == 12


def test_body_is_cached_until_something_changes() -> None:
    store = store_with_two_targets()
    version = [0]
    expo = Exposition(store, CollectorRegistry(), lambda: version[0])
    first = expo.body(False)
    assert expo.body(False) is first
    version[0] += 1
    assert expo.body(False) is not first
    second = expo.body(False)
    store.remove(("demo", "t1"))
    third = expo.body(False)
    assert third is not second and b"t1-s" not in third


async def test_gzip_is_computed_once_per_change() -> None:
    expo = Exposition(store_with_two_targets(), CollectorRegistry(), lambda: 0)
    z1 = await expo.gzipped(False)
    assert await expo.gzipped(False) is z1
    assert gzip.decompress(z1) == expo.body(False)


def test_rendered_lines_match_prometheus_client() -> None:
    """Values and escapes byte for byte (prometheus_client sorts label names; we keep the spec's order)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import generate_latest

    from exporter.metrics.render import render_samples

    values = [0.0, -0.0, 1.0, 25.5, 1e-7, 999999.9, 1e6, 1234567.0, 1.7e9, 1763897412.123, -5e7, 1.5e300, math.inf]
    values += [-math.inf, -1e300, 3.0e-300, 123456.789]
    b = SampleSetBuilder()
    for i, v in enumerate(values):
        b.add(INFO, v, f"s{i}", 'a "b" \\ c\nd' if i % 3 == 0 else f"plain {i}")
    fam = b.build().families[0]

    class One:
        def collect(self) -> object:
            g = GaugeMetricFamily(INFO.name, INFO.help, labels=list(INFO.labels))
            for labels, value in fam.samples:
                g.add_metric(list(labels), value)
            return [g]

    registry = CollectorRegistry()
    registry.register(One())  # type: ignore[arg-type]
    expected = [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]
    ours = render_samples(fam).decode().splitlines()
    # strip="..",label=".." here, label="..",strip=".." there: compare with the two label pairs swapped.
    swapped = [re.sub(r'\{(strip="[^"]*"),(label=".*")\} ', r"{\2,\1} ", line) for line in ours]
    assert swapped == expected


async def test_gzip_is_one_member_equal_to_the_body_after_every_kind_of_change() -> None:
    import zlib

    store = store_with_two_targets()
    version = [0]
    expo = Exposition(store, CollectorRegistry(), lambda: version[0])
    for openmetrics in (False, True):
        z = await expo.gzipped(openmetrics)
        assert zlib.decompress(z, 31) == expo.body(openmetrics), "a single gzip member, CRC and length right"
    big_block = expo._bodies[False].blocks[0]
    b = SampleSetBuilder()
    b.add(C, 99, "t3-s")
    store.put(TargetState("other", "t3").after_success(b.build(), 0.1, 1.0))
    version[0] += 1
    for openmetrics in (False, True):
        z = await expo.gzipped(openmetrics)
        assert gzip.decompress(z) == expo.body(openmetrics)
        assert b't3-s"} 99.0' in expo.body(openmetrics)
    assert expo._bodies[False].blocks[0] is big_block, "a family the change did not touch is not rebuilt"
    store.remove(("demo", "t1"))
    assert gzip.decompress(await expo.gzipped(False)) == expo.body(False)
    assert b"t1-s" not in expo.body(False)


def test_crc32_combine_matches_zlib() -> None:
    import os
    import zlib

    from exporter.metrics.exposition_cache import crc32_combine

    for a_len, b_len in ((0, 5), (5, 0), (1, 1), (1000, 70000), (3, 1 << 20)):
        a, b = os.urandom(a_len), os.urandom(b_len)
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
