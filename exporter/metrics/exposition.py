"""Turns the snapshot store into metric families at scrape time, without awaiting anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.engine.state import TargetKey, TargetState
from exporter.metrics import selfmetrics as sm
from exporter.metrics.spec import MetricSpec


def _family(spec: MetricSpec) -> Metric:
    return Metric(spec.name.removesuffix("_total"), spec.help, spec.type)


class StateCollector(Collector):
    """Per-target self-metrics derived from the target states (device samples are pre-rendered)."""

    def __init__(
        self,
        states: Callable[[], Mapping[TargetKey, TargetState]],
        intervals: Callable[[TargetKey], float | None],
    ) -> None:
        self._states = states
        self._intervals = intervals

    def collect(self) -> Iterator[Metric]:
        yield from self._target_families(self._states())

    def _target_families(self, states: Mapping[TargetKey, TargetState]) -> Iterator[Metric]:
        up, last, duration, interval, polls, failures = (_family(s) for s in sm.TARGET_SPECS)
        for (source, name), st in states.items():
            labels = {"source": source, "target": name}
            up.add_sample(sm.TARGET_UP.name, labels, 1.0 if st.up else 0.0)
            if st.last_success is not None:
                last.add_sample(sm.TARGET_LAST_SUCCESS.name, labels, st.last_success)
            if st.last_duration is not None:
                duration.add_sample(sm.TARGET_POLL_DURATION.name, labels, st.last_duration)
            seconds = self._intervals((source, name))
            if seconds is not None:
                interval.add_sample(sm.TARGET_INTERVAL.name, labels, seconds)
            polls.add_sample(sm.TARGET_POLLS.name, labels, float(st.polls))
            for reason, count in st.failures.items():
                failures.add_sample(sm.TARGET_POLL_FAILURES.name, {**labels, "reason": reason}, float(count))
        yield from (up, last, duration, interval, polls, failures)
