"""Pre-rendered exposition agrees with prometheus_client's parsers, in both formats."""

from __future__ import annotations

import math
import re

from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from exporter.engine.state import SnapshotStore, TargetState
from exporter.metrics.body import compose
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


def whole_body(store: SnapshotStore, openmetrics: bool) -> bytes:
    """The body as /metrics composes it, with no self-metrics."""
    families = (family for state in store.states.values() for family in state.rendered())
    return b"".join(compose(families, openmetrics)) + (b"# EOF\n" if openmetrics else b"")


def samples(families: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in families:  # type: ignore[attr-defined]
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_text_and_openmetrics_parse_to_the_same_samples() -> None:
    text = whole_body(store_with_two_targets(), openmetrics=False).decode()
    om = whole_body(store_with_two_targets(), openmetrics=True).decode()
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
