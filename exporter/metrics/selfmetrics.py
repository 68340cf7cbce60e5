"""The exporter's own metrics. Names are fixed: dashboards and alerts rely on them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.buildinfo import build_info
from exporter.metrics import remediation as remediation_metrics
from exporter.metrics.changes import Changes
from exporter.metrics.reasons import ACTION_FAILURE_REASONS, POLL_FAILURE_REASONS, ActionFailureReason
from exporter.metrics.spec import MetricSpec
from exporter.storage import WRITE_OUTCOMES

_ST = ("source", "target")

BUILD_INFO = MetricSpec(
    "powerstrip_exporter_build_info",
    "Build information; always 1.",
    "gauge",
    ("version", "revision", "branch", "build_date", "python_version"),
)
TARGET_UP = MetricSpec(
    "powerstrip_exporter_target_up",
    "1 if the last poll of the target succeeded, else 0.",
    "gauge",
    _ST,
)
TARGET_LAST_SUCCESS = MetricSpec(
    "powerstrip_exporter_target_last_success_timestamp_seconds",
    "Unix time of the target's last successful poll; absent before the first success.",
    "gauge",
    _ST,
)
TARGET_POLL_DURATION = MetricSpec(
    "powerstrip_exporter_target_poll_duration_seconds",
    "Duration of the target's last poll attempt.",
    "gauge",
    _ST,
)
TARGET_INTERVAL = MetricSpec(
    "powerstrip_exporter_target_interval_seconds",
    "Configured poll interval of the target.",
    "gauge",
    _ST,
)
TARGET_POLLS = MetricSpec(
    "powerstrip_exporter_target_polls_total",
    "Poll attempts of the target, successful or not.",
    "counter",
    _ST,
)
TARGET_POLL_FAILURES = MetricSpec(
    "powerstrip_exporter_target_poll_failures_total",
    "Failed polls of the target by reason "
    "(timeout, connection, http_status, auth, rate_limited, bad_response, sample_limit).",
    "counter",
    (*_ST, "reason"),
)
TARGET_VALUES_REFUSED = MetricSpec(
    "powerstrip_exporter_target_values_refused_total",
    "Device values the target's polls read but did not export, by reason (implausible_value).",
    "counter",
    (*_ST, "reason"),
)
API_REQUEST_DURATION = MetricSpec(
    "powerstrip_exporter_api_request_duration_seconds",
    "Latency of requests to a vendor API, by endpoint template; its _count is the number of requests.",
    "histogram",
    ("source", "endpoint"),
)
RELOAD_OK = MetricSpec(
    "powerstrip_exporter_config_last_reload_successful",
    "1 if the last configuration load or reload succeeded, else 0.",
    "gauge",
)
RELOAD_TS = MetricSpec(
    "powerstrip_exporter_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful configuration load or reload.",
    "gauge",
)
SHARD_INFO = MetricSpec(
    "powerstrip_exporter_shard_info",
    "This replica's shard: index and count from --shard.index/--shard.count; always 1.",
    "gauge",
    ("index", "count"),
)
DISCOVERY_UP = MetricSpec(
    "powerstrip_exporter_discovery_up",
    "1 if the last target discovery of a discovering group (such as networks: all) succeeded, else 0.",
    "gauge",
    ("source", "group"),
)
DISCOVERY_FAILURES = MetricSpec(
    "powerstrip_exporter_discovery_failures_total",
    "Failed target discoveries of a discovering group, by reason (the poll failure reasons).",
    "counter",
    ("source", "group", "reason"),
)

ACTIONS = MetricSpec(
    "powerstrip_exporter_actions_total",
    "Action API requests (attempts), by source and action.",
    "counter",
    ("source", "action"),
)
ACTION_FAILURES = MetricSpec(
    "powerstrip_exporter_action_failures_total",
    "Refused or failed action requests by reason (unauthenticated, forbidden, not_found, invalid, cooldown, "
    "upstream, timeout).",
    "counter",
    ("source", "action", "reason"),
)
HTTP_CONNECTIONS_DROPPED = MetricSpec(
    "powerstrip_exporter_http_connections_dropped_total",
    "Connections the listeners closed for a limit, by reason (header_timeout, too_many_connections, "
    "too_many_client_connections).",
    "counter",
    ("reason",),
)
HTTP_DROP_REASONS = ("header_timeout", "too_many_connections", "too_many_client_connections")
STATE_WRITE_FAILURES = MetricSpec(
    "powerstrip_exporter_state_write_failures_total",
    "Failed writes of a state file under --storage.path, by kind of state.",
    "counter",
    ("kind",),
)
STATE_LAST_WRITE_OK = MetricSpec(
    "powerstrip_exporter_state_last_write_successful",
    "1 if the last write of this kind of state file succeeded, else 0; absent before its first write.",
    "gauge",
    ("kind",),
)

RUNTIME_SPECS = (
    MetricSpec("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter"),
    MetricSpec("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge"),
    MetricSpec("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge"),
    MetricSpec("process_open_fds", "Number of open file descriptors.", "gauge"),
    MetricSpec("process_max_fds", "Maximum number of open file descriptors.", "gauge"),
    MetricSpec("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge"),
    MetricSpec("python_gc_objects_collected_total", "Objects collected during gc", "counter", ("generation",)),
    MetricSpec(
        "python_gc_objects_uncollectable_total", "Uncollectable objects found during GC", "counter", ("generation",)
    ),
    MetricSpec(
        "python_gc_collections_total", "Number of times this generation was collected", "counter", ("generation",)
    ),
    MetricSpec(
        "python_info",
        "Python platform information",
        "gauge",
        ("implementation", "major", "minor", "patchlevel", "version"),
    ),
)
"""The process and Python metrics every prometheus_client exporter has, as its ProcessCollector,
GCCollector and PlatformCollector write them (declared here for the docs check; the collectors
render them)."""

TARGET_SPECS = (
    TARGET_UP,
    TARGET_LAST_SUCCESS,
    TARGET_POLL_DURATION,
    TARGET_INTERVAL,
    TARGET_POLLS,
    TARGET_POLL_FAILURES,
    TARGET_VALUES_REFUSED,
)


class _StateWrites(Collector):
    """The outcomes of state-file writes, read at each body build (writes happen in worker threads;
    the poll or action that asked for a write announces the change that rebuilds the body)."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        outcomes = sorted(WRITE_OUTCOMES.snapshot().items())
        name, help_text, labels = _metric_args(STATE_WRITE_FAILURES)
        failures = CounterMetricFamily(name, help_text, labels=labels)
        name, help_text, labels = _metric_args(STATE_LAST_WRITE_OK)
        last_ok = GaugeMetricFamily(name, help_text, labels=labels)
        for kind, outcome in outcomes:
            failures.add_metric([kind], outcome.failures)
            if outcome.last_ok is not None:
                last_ok.add_metric([kind], 1 if outcome.last_ok else 0)
        yield failures
        yield last_ok


def _metric_args(spec: MetricSpec) -> tuple[str, str, tuple[str, ...]]:
    name = spec.name.removesuffix("_total")
    return name, spec.help, spec.labels


class ProcessMetrics:
    """Self-metrics kept by prometheus_client (the ones not derived from target state)."""

    def __init__(self, changes: Changes) -> None:
        # No `*_created` series: nothing reads them, and they were a tenth of a demo scrape. The switch is
        # process-wide; this process's only registries are these.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.changes = changes
        self.registry = registry = CollectorRegistry(auto_describe=False)
        """Metrics that change only through this class: cached with the /metrics body."""
        self.runtime_registry = CollectorRegistry(auto_describe=False)
        """CPU, memory, file descriptors, the garbage collector: read at each scrape, apart from the body."""
        ProcessCollector(registry=self.runtime_registry)
        GCCollector(registry=self.runtime_registry)
        PlatformCollector(registry=self.runtime_registry)
        build = Gauge(*_metric_args(BUILD_INFO), registry=registry)
        info = build_info()
        build.labels(info.version, info.revision, info.branch, info.build_date, info.python_version).set(1)
        self.api_duration = Histogram(*_metric_args(API_REQUEST_DURATION), registry=registry)
        self.reload_ok = Gauge(*_metric_args(RELOAD_OK), registry=registry)
        self.reload_ts = Gauge(*_metric_args(RELOAD_TS), registry=registry)
        self.shard = Gauge(*_metric_args(SHARD_INFO), registry=registry)
        self.discovery_up = Gauge(*_metric_args(DISCOVERY_UP), registry=registry)
        self.discovery_failures = Counter(*_metric_args(DISCOVERY_FAILURES), registry=registry)
        self.actions = Counter(*_metric_args(ACTIONS), registry=registry)
        self.action_failures = Counter(*_metric_args(ACTION_FAILURES), registry=registry)
        self.http_dropped = Counter(*_metric_args(HTTP_CONNECTIONS_DROPPED), registry=registry)
        for reason in HTTP_DROP_REASONS:
            self.http_dropped.labels(reason)
        registry.register(_StateWrites())
        self._endpoints: set[tuple[str, str]] = set()
        self._discovering: set[tuple[str, str]] = set()
        self._pending: list[tuple[str, str, float]] = []

    def _changed(self) -> None:
        self.changes.changed()

    def client_event(self) -> None:
        """A change a client caused and expects to see at once (actions, reloads, remediations)."""
        self.changes.changed(by_client=True)

    def init_actions(self, source: str, action: str) -> None:
        self.actions.labels(source, action)
        for reason in ACTION_FAILURE_REASONS:
            self.action_failures.labels(source, action, reason)

    def action_attempt(self, source: str, action: str) -> None:
        self.actions.labels(source, action).inc()
        self.client_event()

    def action_failure(self, source: str, action: str, reason: ActionFailureReason) -> None:
        self.action_failures.labels(source, action, reason).inc()
        self.client_event()

    def http_connection_dropped(self, reason: str) -> None:
        """A listener closed a connection for a limit (called on the main loop, like every change here)."""
        self.http_dropped.labels(reason).inc()
        self._changed()

    def set_shard(self, index: int, count: int) -> None:
        self.shard.labels(str(index), str(count)).set(1)

    def init_endpoints(self, source: str, endpoints: Iterable[str]) -> None:
        """Pre-initialise API series so none is missing before its first request."""
        for endpoint in endpoints:
            if (source, endpoint) not in self._endpoints:
                self._endpoints.add((source, endpoint))
                self.api_duration.labels(source, endpoint)

    def observe_api_request(self, source: str, endpoint: str, seconds: float) -> None:
        """Buffered until the next published snapshot, so /metrics changes once per poll, not per request."""
        self._pending.append((source, endpoint, seconds))

    def flush(self) -> None:
        """A target state was published: record the buffered requests and announce the change."""
        pending, self._pending = self._pending, []
        for source, endpoint, seconds in pending:
            self.api_duration.labels(source, endpoint).observe(seconds)
        self._changed()

    def discovery_result(self, source: str, group: str, reason: str | None) -> None:
        """The outcome of one discovery: `reason` None on success, else a poll failure reason."""
        self.discovery_up.labels(source, group).set(1 if reason is None else 0)
        if (source, group) not in self._discovering:
            self._discovering.add((source, group))
            for known in POLL_FAILURE_REASONS:
                self.discovery_failures.labels(source, group, known)
        if reason is not None:
            self.discovery_failures.labels(source, group, reason).inc()
        self._changed()

    def forget_discovery(self, source: str, group: str) -> None:
        """The group left the config: its series go with it."""
        if (source, group) in self._discovering:
            self._discovering.discard((source, group))
            self.discovery_up.remove(source, group)
            for known in POLL_FAILURE_REASONS:
                self.discovery_failures.remove(source, group, known)
            self._changed()

    def reload_result(self, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_ts.set(time.time())
        self.client_event()


def self_specs() -> tuple[MetricSpec, ...]:
    return (
        BUILD_INFO,
        *RUNTIME_SPECS,
        *TARGET_SPECS,
        API_REQUEST_DURATION,
        RELOAD_OK,
        RELOAD_TS,
        SHARD_INFO,
        DISCOVERY_UP,
        DISCOVERY_FAILURES,
        ACTIONS,
        ACTION_FAILURES,
        *remediation_metrics.SPECS,
        HTTP_CONNECTIONS_DROPPED,
        STATE_WRITE_FAILURES,
        STATE_LAST_WRITE_OK,
    )


__all__ = ["ProcessMetrics", "self_specs"]
