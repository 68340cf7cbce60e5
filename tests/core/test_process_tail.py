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
        family = CounterMetricFamily("process_demo_reads", "Reads.")
        family.add_metric([], self.count)
        yield family


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tail(
    every: float, keep_for: float = 600.0, clock: Callable[[], float] = time.monotonic
) -> tuple[ProcessTail, _Reads]:
    reads = _Reads()
    registry = CollectorRegistry()
    registry.register(reads)
    return ProcessTail(registry, every=every, keep_for=keep_for, clock=clock), reads


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _tail_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "process-metrics"}


def test_the_first_ask_reads_in_place_and_later_reads_happen_without_any_ask() -> None:
    tail, reads = _tail(every=0.02)
    try:
        assert tail.text(False).endswith(b"process_demo_reads_total 1.0\n")
        _until(lambda: reads.count >= 3, "the thread never read again")
        assert b"process_demo_reads_total" in tail.text(True)
    finally:
        tail.close()


def test_a_scrape_takes_the_newest_read_without_reading() -> None:
    tail, reads = _tail(every=30.0)  # the thread's first read is 30 s away
    try:
        first = tail.text(False)
        assert [tail.text(False) for _ in range(5)] == [first] * 5 and reads.count == 1
    finally:
        tail.close()


def test_a_reading_over_twice_every_old_is_read_again_by_the_scrape() -> None:
    clock = _Clock()
    tail, _ = _tail(every=30.0, clock=clock)
    try:
        assert tail.text(False).endswith(b" 1.0\n")
        clock.now += 59.0
        assert tail.text(False).endswith(b" 1.0\n"), "under twice `every`: the reading serves"
        clock.now += 2.0
        assert tail.text(False).endswith(b" 2.0\n"), "over twice `every` (after a pause): read afresh"
    finally:
        tail.close()


def test_reading_stops_once_nobody_asked_for_keep_for() -> None:
    clock = _Clock()
    tail, reads = _tail(every=0.01, keep_for=10.0, clock=clock)
    try:
        tail.text(False)
        _until(lambda: reads.count >= 3, "the thread never read")
        clock.now += 11.0  # nobody asked for keep_for
        settled = reads.count
        time.sleep(0.3)  # thirty periods: reading on would add about thirty reads
        assert reads.count <= settled + 1, "only a read already under way may finish"
        tail.text(False)  # asking again wakes the thread
        _until(lambda: reads.count >= settled + 4, "asking again did not wake the thread")
    finally:
        tail.close()


def test_a_selection_without_process_metrics_reads_nothing() -> None:
    tail, reads = _tail(every=30.0)
    try:
        assert tail.selection(False, ["powerstrip_exporter_target_up"]) == b""
        assert reads.count == 0
        assert b"process_demo_reads_total 1.0" in tail.selection(False, ["process_demo_reads_total"])
    finally:
        tail.close()


def test_every_zero_reads_at_each_ask_and_starts_no_thread() -> None:
    before = _tail_threads()
    tail, reads = _tail(every=0.0)
    tail.text(False)
    tail.text(False)
    assert reads.count == 2 and _tail_threads() <= before


def test_close_stops_the_thread() -> None:
    before = _tail_threads()
    tail, _ = _tail(every=0.01)
    tail.text(False)
    (ours,) = _tail_threads() - before
    tail.close()
    ours.join(DEADLINE)
    assert not ours.is_alive(), "the thread outlived close()"
