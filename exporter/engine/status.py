"""What the engine contributes to `/metrics`: each target's status self-metrics and device lines.

Both are rendered families (spec, lines); the metrics layer composes them into a body
without knowing about targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from exporter.engine.state import TargetKey, TargetState
from exporter.metrics import selfmetrics as sm
from exporter.metrics.render import RenderedFamily, render_families
from exporter.metrics.spec import SampleSetBuilder


def render_status(state: TargetState, interval: float | None) -> tuple[RenderedFamily, ...]:
    """The target's self-metric lines, family by family, in `TARGET_SPECS` order."""
    b = SampleSetBuilder()
    labels = (state.source, state.name)
    b.add(sm.TARGET_UP, state.up, *labels)
    b.add(sm.TARGET_LAST_SUCCESS, state.last_success, *labels)
    b.add(sm.TARGET_POLL_DURATION, state.last_duration, *labels)
    b.add(sm.TARGET_INTERVAL, interval, *labels)
    b.add(sm.TARGET_POLLS, state.polls, *labels)
    for reason, count in state.failures.items():
        b.add(sm.TARGET_POLL_FAILURES, count, *labels, reason)
    for refusal, count in state.refused.items():
        b.add(sm.TARGET_VALUES_REFUSED, count, *labels, refusal)
    return render_families(b.build().families)


def target_families(
    states: Iterable[TargetState], interval: Callable[[TargetKey], float | None], names: frozenset[str] | None = None
) -> Iterator[RenderedFamily]:
    """Every target's status families (each one even when no target has a line), then their
    device families (see `TargetState.rendered`); with `names`, those families only."""
    states = list(states)
    status = [spec for spec in sm.TARGET_SPECS if names is None or spec.name in names]
    for spec in status:
        yield spec, b""
    if status:
        for state in states:
            yield from render_status(state, interval(state.key))
    for state in states:
        yield from state.rendered(names)
