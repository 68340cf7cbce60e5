"""Per-target self-metrics (up, polls, failures, ...), rendered once per published state.

They change with every poll of every target, so they are rendered like device
samples, into lines per family, and cached with the immutable state they come
from: a scrape after one target's poll renders that target's few lines, not every
target's through prometheus_client's generic collector path.
"""

from __future__ import annotations

from exporter.engine.state import TargetState
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
    return render_families(b.build().families)
