"""The process metrics are read on their own thread while someone scrapes, not by the scrapes."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from exporter.metrics.process_tail import ProcessTail

DEADLINE = 30.0


class _Reads(Collector):
    def __init__(self) -> None:
        self.count = 0
        self._next = itertools.count(1)

    def collect(self) -> Iterator[Metric]:
        self.count = next(self._next)
        family = CounterMetricFamily("demo_reads", "Reads.")
        family.add_metric([], self.count)
        yield family


def _tail(every: float, keep_for: float = 600.0) -> tuple[ProcessTail, _Reads]:
    reads = _Reads()
    registry = CollectorRegistry()
    registry.register(reads)
    return ProcessTail(registry, every=every, keep_for=keep_for), reads


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_first_ask_reads_in_place_and_later_reads_happen_without_any_ask() -> None:
    tail, reads = _tail(every=0.05)
    try:
        assert tail.text(False).endswith(b"demo_reads_total 1.0\n") and reads.count == 1
        _until(lambda: reads.count >= 3, "the thread never read again")
        assert b"demo_reads_total" in tail.text(True)
    finally:
        tail.close()


def test_a_scrape_takes_the_newest_read_without_reading() -> None:
    tail, reads = _tail(every=30.0)
    try:
        first = tail.text(False)
        assert [tail.text(False) for _ in range(5)] == [first] * 5 and reads.count == 1
    finally:
        tail.close()


def test_reading_stops_when_nobody_asked_for_keep_for() -> None:
    tail, reads = _tail(every=0.02, keep_for=0.2)
    try:
        tail.text(False)
        time.sleep(0.2)  # keep_for has passed: from now on no read is due
        settled = reads.count
        time.sleep(0.2)
        assert reads.count <= settled + 1, "at most one read already under way when keep_for ran out"
        again = reads.count
        time.sleep(0.2)
        assert reads.count == again
    finally:
        tail.close()


def test_after_a_pause_the_first_ask_reads_afresh() -> None:
    tail, reads = _tail(every=0.02, keep_for=0.05)
    try:
        tail.text(False)
        time.sleep(0.2)
        before = reads.count
        assert tail.text(False).endswith(f"demo_reads_total {before + 1}.0\n".encode())
    finally:
        tail.close()


def test_every_zero_reads_at_each_ask_and_starts_no_thread() -> None:
    _until(lambda: "process-metrics" not in {t.name for t in threading.enumerate()}, "other tests' threads linger")
    tail, reads = _tail(every=0.0)
    tail.text(False)
    tail.text(False)
    assert reads.count == 2
    assert "process-metrics" not in {t.name for t in threading.enumerate()}
