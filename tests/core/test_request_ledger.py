"""The simulators' request ledger: counts cut at an instant, so the benchmark counts whole polls."""

from __future__ import annotations

import math

import pytest

from powerstrip_sim.request_ledger import CutTooEarly, RequestLedger, parse_before


def test_counts_cut_at_an_instant() -> None:
    ledger = RequestLedger()
    for at, key in [(10.0, "GET /a"), (11.0, "GET /b"), (12.0, "GET /a"), (13.0, "GET /a")]:
        ledger.record(key, at)
    assert ledger.counts() == {"GET /a": 3, "GET /b": 1}
    assert ledger.counts(before=12.0) == {"GET /a": 1, "GET /b": 1}  # an arrival at the instant is after it
    assert ledger.counts(before=12.5) == {"GET /a": 2, "GET /b": 1}
    assert ledger.counts(before=10.0) == {}  # keys with nothing before the cut are left out
    assert ledger.total(before=100.0) == 4
    ledger.clear()
    assert ledger.counts() == {} and ledger.total() == 0


def test_record_defaults_to_now() -> None:
    ledger = RequestLedger()
    ledger.record("GET /a")
    assert ledger.counts(before=1.0) == {}
    assert ledger.counts(before=math.inf) == {"GET /a": 1}


@pytest.mark.parametrize("value", ["soon", "", "nan"])
def test_parse_before_refuses_what_is_not_an_instant(value: str) -> None:
    with pytest.raises(ValueError, match="before: expected seconds since the epoch"):
        parse_before(value)


def test_parse_before() -> None:
    assert parse_before(None) is None
    assert parse_before("1700000000.25") == 1700000000.25


def test_memory_is_bounded_and_old_cuts_are_refused() -> None:
    ledger = RequestLedger(keep_per_key=4)
    for at in range(1, 11):  # arrivals at 1..10 s
        ledger.record("GET /a", float(at))
    assert ledger.counts() == {"GET /a": 10}  # folded arrivals still count
    assert ledger.counts(before=9.5) == {"GET /a": 9}
    assert ledger.counts(before=100.0) == {"GET /a": 10}
    with pytest.raises(CutTooEarly, match="older than the oldest arrival kept"):
        ledger.counts(before=2.0)  # folded away: how many came before 2 s is no longer known


def test_a_clock_stepping_back_keeps_the_order() -> None:
    ledger = RequestLedger()
    for at in (10.0, 12.0, 11.0, 13.0):  # the clock stepped back once
        ledger.record("GET /a", at)
    assert ledger.counts(before=12.5) == {"GET /a": 3}  # the late one is clamped to 12 s, not lost
    assert ledger.counts(before=11.5) == {"GET /a": 1}
