"""Pre-rendered exposition agrees with prometheus_client's parsers, in both formats."""

from __future__ import annotations

import gzip
import math

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
