"""Values refused as implausible: the builder drops the one sample, the target state counts it."""

from __future__ import annotations

from exporter.engine.state import TargetState
from exporter.engine.status import render_status
from exporter.metrics.spec import MetricSpec, SampleSetBuilder

ENERGY = MetricSpec("x_energy_joules_total", "Energy.", "counter", ("device",))
RATIO = MetricSpec("x_ratio", "A ratio.", "gauge", ("device",))


def test_a_value_outside_its_range_is_refused_and_its_neighbours_kept() -> None:
    b = SampleSetBuilder()
    b.add_within(ENERGY, -1.0, "a", minimum=0)
    b.add_within(ENERGY, 0.0, "b", minimum=0)
    b.add_within(RATIO, 1.5, "a", minimum=0, maximum=1)
    b.add_within(RATIO, None, "b", minimum=0, maximum=1)  # unknown: a hole, not a refusal
    b.add_within(RATIO, 1.0, "c", minimum=0, maximum=1)
    samples = b.build()
    assert samples.get(ENERGY.name) == ((("b",), 0.0),)
    assert samples.get(RATIO.name) == ((("c",), 1.0),)
    assert [(r.series, r.value, r.reason) for r in samples.refused] == [
        ('x_energy_joules_total{device="a"}', -1.0, "implausible_value"),
        ('x_ratio{device="a"}', 1.5, "implausible_value"),
    ]
    assert len(samples) == 2


def test_refusals_are_counted_per_poll_and_shown_from_the_start() -> None:
    state = TargetState("dli", "unit")
    assert (
        b'powerstrip_exporter_target_values_refused_total{source="dli",target="unit",reason="implausible_value"} 0'
        in (b"".join(lines for _, lines in render_status(state, 1.0)))
    )
    b = SampleSetBuilder()
    b.add_within(ENERGY, -5.0, "a", minimum=0)
    b.add_within(ENERGY, -6.0, "b", minimum=0)
    refusing = b.build()
    for _ in range(3):
        state = state.after_success(refusing, 0.01, 1.0)
    state = state.after_success(SampleSetBuilder().build(), 0.01, 2.0)
    assert state.refused == {"implausible_value": 6}
