"""Remediation metrics: one counter of results per rule, and each rule's circuit breaker."""

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
    "limited",
    "breaker_open",
    "failed",
    "recovered",
    "not_recovered",
]
RESULTS: tuple[Result, ...] = get_args(Result)

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
SPECS = (REMEDIATIONS, BREAKER_OPEN)


class RemediationMetrics:
    def __init__(self, registry: CollectorRegistry, on_change: Callable[[], None]) -> None:
        self._results = Counter(
            REMEDIATIONS.name.removesuffix("_total"), REMEDIATIONS.help, REMEDIATIONS.labels, registry=registry
        )
        self._breaker = Gauge(BREAKER_OPEN.name, BREAKER_OPEN.help, BREAKER_OPEN.labels, registry=registry)
        self._rules: set[str] = set()
        self._on_change = on_change

    def set_rules(self, names: set[str]) -> None:
        """Series exist from load for every rule, and leave with the rule."""
        for gone in self._rules - names:
            self._breaker.remove(gone)
            for result in RESULTS:
                self._results.remove(gone, result)
        for new in names - self._rules:
            self._breaker.labels(new).set(0)
            for result in RESULTS:
                self._results.labels(new, result)
        self._rules = set(names)
        self._on_change()

    def result(self, rule: str, result: Result) -> None:
        self._results.labels(rule, result).inc()
        self._on_change()

    def breaker(self, rule: str, is_open: bool) -> None:
        if rule in self._rules:
            self._breaker.labels(rule).set(1 if is_open else 0)
            self._on_change()
