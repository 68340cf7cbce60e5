"""The harness counts API calls over whole polls only: cut instants are taken where no target polled."""

from __future__ import annotations

import math

import pytest

from bench.tracker import Counts, Poll, Tracker, calls_per_cycle

A, B = ("cloudtrax", "1"), ("cloudtrax", "2")


def tracker(polls: dict[tuple[str, str], list[tuple[float, float]]]) -> Tracker:
    t = Tracker("http://unused", targets=len(polls))
    for key, spans in polls.items():
        t.polls[key] = {n: Poll(start, end, True) for n, (start, end) in enumerate(spans, start=1)}
    return t


def ledger(arrivals: list[float]) -> Counts:
    """A simulator's counter that saw one call at each of `arrivals`."""

    def counts(before: float | None) -> dict[str, int]:
        return {"get": sum(1 for a in arrivals if before is None or a < before)}

    return counts


# Two targets polled every 10 s, each poll 0-4 s into its slot (target B a little later).
SPANS = {A: [(10.0 * i, 10.0 * i + 3.0) for i in range(6)], B: [(10.0 * i + 1.0, 10.0 * i + 4.0) for i in range(6)]}


def test_cut_falls_between_polls_of_every_target() -> None:
    t = tracker(SPANS)
    cut = t.cut(near=25.0)
    assert cut is not None
    instant, done = cut
    assert 24.0 < instant < 30.0  # after B's third poll ended, before either's fourth began
    assert done == {A: 3, B: 3}
    latest = t.cut(near=1000.0)  # the nearest instant whose next polls are known
    assert latest is not None and latest[1] == {A: 5, B: 5}


def test_no_cut_while_polls_overlap_everywhere() -> None:
    # B is always polling when A is not: there is no instant at which both are idle.
    t = tracker({A: [(0.0, 5.0), (10.0, 15.0), (20.0, 25.0)], B: [(4.0, 11.0), (14.0, 21.0), (24.0, 31.0)]})
    assert t.cut(near=12.0) is None


def test_a_poll_whose_times_are_unknown_is_never_cut_next_to() -> None:
    t = tracker(SPANS)
    t.polls[A][4] = Poll(math.nan, math.nan, False)  # failed: no start or end known
    instant, done = t.cut(near=35.0) or (0.0, {})
    assert done and not (30.0 <= instant <= 44.0)


def test_calls_per_cycle_counts_whole_polls_however_the_window_falls() -> None:
    # Each poll makes 3 calls spread through it; the window's nominal edges fall mid-poll.
    arrivals = [start + f * (end - start) for spans in SPANS.values() for start, end in spans for f in (0.1, 0.5, 0.9)]
    by_endpoint, polls = calls_per_cycle(tracker(SPANS), ledger(arrivals), (11.5, 42.0))
    assert by_endpoint == {"get": 6.0}  # 3 calls x 2 targets per cycle, exactly
    assert polls == 3.0


def test_without_an_idle_instant_there_is_no_exact_count() -> None:
    spans = {A: [(0.0, 5.0), (10.0, 15.0), (20.0, 25.0)], B: [(4.0, 11.0), (14.0, 21.0), (24.0, 31.0)]}
    with pytest.raises(RuntimeError, match="no instant"):
        calls_per_cycle(tracker(spans), ledger([1.0]), (12.0, 26.0))


def test_cuts_before_the_earliest_instant_are_not_used() -> None:
    t = tracker(SPANS)
    assert t.cut(near=5.0) == (pytest.approx(4.001), {A: 1, B: 1})
    cut = t.cut(near=5.0, earliest=20.0)  # 23.001 is out too: B's third poll runs until 24 s
    assert cut == (pytest.approx(24.001), {A: 3, B: 3})


def test_a_window_without_a_whole_poll_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=r"no instant|no whole poll"):
        calls_per_cycle(tracker(SPANS), ledger([]), (11.5, 11.6))
