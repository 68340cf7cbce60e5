"""Remediation metrics: results per rule, each rule's circuit breaker, and what the endpoints refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.metrics.spec import MetricSpec

Result = Literal[
    "acted",
    "dry_run",
    "duplicate",
    "too_early",
    "invalid",
    "refused",
    "deferred",
    "limited",
    "breaker_open",
    "failed",
    "not_owned",
    "not_ready",
    "recovered",
    "not_recovered",
]
RESULTS: tuple[Result, ...] = get_args(Result)

Endpoint = Literal["webhook", "breaker_close"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
RejectReason = Literal[
    "disabled",
    "unauthenticated",
    "rate_limited",
    "forbidden",
    "not_found",
    "bad_request",
    "unsupported_media_type",
    "too_large",
    "timeout",
    "method_not_allowed",
]
"""Why a request to a remediation endpoint was answered with an error before anything was decided."""
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)

REMEDIATIONS = MetricSpec(
    "powerstrip_exporter_remediations_total",
    "Firing alerts a remediation rule decided on, by result; recovered and not_recovered count the "
    "verification of acted ones.",
    "counter",
    ("rule", "result"),
)
BREAKER_OPEN = MetricSpec(
    "powerstrip_exporter_remediation_breaker_open",
    "1 while the rule's circuit breaker is open (its hourly budget was spent; nothing acts), else 0.",
    "gauge",
    ("rule",),
)
BREAKER_CLOSES = MetricSpec(
    "powerstrip_exporter_remediation_breaker_closes_total",
    "Open circuit breakers closed early through the API (POST .../rules/{rule}/breaker/close).",
    "counter",
    ("rule",),
)
REJECTED = MetricSpec(
    "powerstrip_exporter_remediation_requests_rejected_total",
    "Requests to the remediation webhook or the breaker-close endpoint answered with an error, by reason.",
    "counter",
    ("endpoint", "reason"),
)
TRUNCATED = MetricSpec(
    "powerstrip_exporter_remediation_truncated_alerts_total",
    "Alerts Alertmanager left out of webhook notifications (truncatedAlerts, from max_alerts); never decided.",
    "counter",
    (),
)
SPECS = (REMEDIATIONS, BREAKER_OPEN, BREAKER_CLOSES, REJECTED, TRUNCATED)


def _counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)


class RemediationMetrics:
    def __init__(self, registry: CollectorRegistry, on_change: Callable[[], None]) -> None:
        self._results = _counter(REMEDIATIONS, registry)
        self._breaker = Gauge(BREAKER_OPEN.name, BREAKER_OPEN.help, BREAKER_OPEN.labels, registry=registry)
        self._closes = _counter(BREAKER_CLOSES, registry)
        self._rejected = _counter(REJECTED, registry)
        self._truncated = _counter(TRUNCATED, registry)
        for endpoint in ENDPOINTS:
            for reason in REJECT_REASONS:
                self._rejected.labels(endpoint, reason)
        self._rules: set[str] = set()
        self._on_change = on_change

    def set_rules(self, names: set[str]) -> None:
        """Series exist from load for every rule, and leave with the rule."""
        for gone in self._rules - names:
            self._breaker.remove(gone)
            self._closes.remove(gone)
            for result in RESULTS:
                self._results.remove(gone, result)
        for new in names - self._rules:
            self._breaker.labels(new).set(0)
            self._closes.labels(new)
            for result in RESULTS:
                self._results.labels(new, result)
        self._rules = set(names)
        self._on_change()

    def result(self, rule: str, result: Result) -> None:
        if rule in self._rules:
            self._results.labels(rule, result).inc()
            self._on_change()

    def breaker(self, rule: str, is_open: bool) -> None:
        if rule in self._rules:
            self._breaker.labels(rule).set(1 if is_open else 0)
            self._on_change()

    def breaker_closed(self, rule: str) -> None:
        if rule in self._rules:
            self._closes.labels(rule).inc()
            self._on_change()

    def rejected(self, endpoint: Endpoint, reason: RejectReason) -> None:
        """Not a change a client waits to see: a flood of refusals must not make scrapes wait for builds."""
        self._rejected.labels(endpoint, reason).inc()

    def truncated(self, alerts: int) -> None:
        self._truncated.inc(alerts)
        self._on_change()
