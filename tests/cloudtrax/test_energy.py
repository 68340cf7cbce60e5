"""The energy ledger on hand-made usage: the first-read mark, spacing, overlap, holes, hostile readings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from exporter.sources.cloudtrax.energy import MAX_PORT_POWER_W, EnergyLedger
from exporter.sources.cloudtrax.models import UsageSample

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = (T0 + timedelta(days=1)).timestamp()
"""The ledgers' wall clock: a day after T0, so every sample on the grid below is in the past."""


def ledger(started: float = NOW) -> EnergyLedger:
    return EnergyLedger(wall_clock=lambda: NOW, started=started)


def samples(watts: dict[int, float | None], *, spacing: int = 300) -> list[UsageSample]:
    """One sample per key (its index on a 5-minute grid), port "1" drawing the given power."""
    return [
        UsageSample.model_validate(
            {"time": T0 + timedelta(seconds=i * spacing), "ports": {"1": {"active_power_w": w}, "2": {}}}
        )
        for i, w in sorted(watts.items())
    ]


def primed() -> EnergyLedger:
    """A ledger whose first read (samples 0 and 1) has set the mark at sample 1."""
    book = ledger()
    book.integrate(1, 7, samples({0: 10.0, 1: 10.0}))
    return book


def test_the_first_read_counts_no_history_only_sets_the_mark() -> None:
    book = ledger()
    book.integrate(1, 7, samples({0: 10.0, 1: 20.0, 2: 30.0}))
    assert book.joules(1, 7) == {"1": 0.0, "2": 0.0}
    book.integrate(1, 7, samples({1: 20.0, 2: 30.0, 3: 40.0}))
    assert book.joules(1, 7)["1"] == 40.0 * 300  # only the sample published after the first read


def test_a_first_read_without_samples_starts_at_the_process_start() -> None:
    book = ledger(started=(T0 + timedelta(seconds=150)).timestamp())
    book.integrate(1, 7, [])
    book.integrate(1, 7, samples({0: 10.0, 1: 10.0, 2: 10.0}))
    assert book.joules(1, 7)["1"] == 10.0 * (150 + 300)  # from the start, not from sample 0


def test_power_times_spacing_after_the_mark() -> None:
    book = primed()
    book.integrate(1, 7, samples({0: 10.0, 1: 10.0, 2: 20.0, 3: 30.0}))
    assert book.joules(1, 7) == {"1": (20.0 + 30.0) * 300, "2": 0.0}


def test_overlapping_windows_count_each_sample_once() -> None:
    book = primed()
    book.integrate(1, 7, samples({1: 10.0, 2: 10.0, 3: 10.0}))
    first = book.joules(1, 7)["1"]
    book.integrate(1, 7, samples({2: 10.0, 3: 10.0, 4: 10.0, 5: 10.0}))
    assert book.joules(1, 7)["1"] == first + 2 * 10.0 * 300
    revision = book.revision
    book.integrate(1, 7, samples({4: 10.0, 5: 10.0}))  # nothing new
    assert book.joules(1, 7)["1"] == first + 2 * 10.0 * 300
    assert book.revision == revision  # nothing to save either


def test_first_sample_of_a_later_window_joins_the_previous_one() -> None:
    book = primed()
    book.integrate(1, 7, samples({2: 8.0}))  # single new sample, adjacent to the last counted
    assert book.joules(1, 7)["1"] == 8.0 * 300


def test_holes_are_skipped_not_guessed() -> None:
    book = primed()
    book.integrate(1, 7, samples({1: 10.0, 2: 10.0, 12: 10.0, 13: 10.0, 14: 10.0}))
    assert book.joules(1, 7)["1"] == 3 * 10.0 * 300  # 2, 13 and 14; not the 10 intervals up to 12


def test_newest_first_order_is_handled() -> None:
    book = primed()
    book.integrate(1, 7, list(reversed(samples({1: 10.0, 2: 10.0, 3: 10.0}))))
    assert book.joules(1, 7)["1"] == 2 * 10.0 * 300


def test_strips_are_kept_apart() -> None:
    book = primed()
    assert book.joules(1, 8) == {}
    assert book.joules(2, 7) == {}


def test_each_hostile_reading_is_rejected_alone_with_its_reason() -> None:
    book = primed()
    point = {
        "time": T0 + timedelta(seconds=600),
        "ports": {
            "1": {"active_power_w": 10.0},
            "2": {"active_power_w": None},
            "3": {"active_power_w": float("nan")},
            "4": {"active_power_w": float("inf")},
            "5": {"active_power_w": -5.0},
            "6": {"active_power_w": 1e308},
            "7": {"active_power_w": MAX_PORT_POWER_W},
        },
    }
    after = {"time": T0 + timedelta(seconds=900), "ports": {p: {"active_power_w": 1.0} for p in "1234567"}}
    book.integrate(1, 7, [UsageSample.model_validate(point), UsageSample.model_validate(after)])
    joules = book.joules(1, 7)
    assert joules["1"] == 10.0 * 300 + 1.0 * 300
    assert joules["7"] == MAX_PORT_POWER_W * 300 + 1.0 * 300  # the limit itself is allowed
    for port in "23456":  # each lost only its own interval; the next sample counts again
        assert joules[port] == 1.0 * 300
    assert all(math.isfinite(v) for v in joules.values())
    assert book.rejected(1) == {
        "future_time": 0,
        "null": 1,
        "not_finite": 2,
        "negative": 1,
        "too_large": 1,
        "unknown_port": 0,
    }
    assert book.rejected(2) == dict.fromkeys(book.rejected(1), 0)


def test_a_far_future_sample_is_rejected_and_does_not_freeze_the_counter() -> None:
    book = primed()
    year_9999 = UsageSample.model_validate({"time": "9999-12-31T23:59:59Z", "ports": {"1": {"active_power_w": 5.0}}})
    book.integrate(1, 7, [*samples({1: 10.0, 2: 10.0}), year_9999])
    assert book.joules(1, 7)["1"] == 10.0 * 300
    book.integrate(1, 7, [*samples({2: 10.0, 3: 10.0}), year_9999])
    assert book.joules(1, 7)["1"] == 2 * 10.0 * 300  # still counting
    assert book.rejected(1)["future_time"] == 1  # the same sample, seen twice, rejected once


def test_the_future_is_judged_on_the_api_clock() -> None:
    ahead = samples({2: 10.0, 30: 10.0, 31: 10.0})  # sample 30 is 2.5 hours after sample 1
    skewed = EnergyLedger(wall_clock=lambda: (T0 + timedelta(seconds=600)).timestamp(), started=0.0)
    skewed.integrate(1, 7, samples({0: 10.0, 1: 10.0}))
    skewed.integrate(1, 7, ahead)  # our clock says sample 30 is two hours ahead: rejected
    assert skewed.rejected(1)["future_time"] == 2
    skewed.integrate(1, 7, ahead, clock_offset=9000.0)  # the API's clock is 2.5 hours ahead of ours
    assert skewed.joules(1, 7)["1"] == 10.0 * 300 + 10.0 * 300  # 2, then 31 (30 ends a hole)


def test_readings_of_ports_the_strip_does_not_list_are_refused_and_logged_once_per_change() -> None:
    def invented(first: int, last: int) -> list[UsageSample]:
        return [
            UsageSample.model_validate(
                {
                    "time": T0 + timedelta(seconds=300 * i),
                    "ports": {"1": {"active_power_w": 10.0}, f"9{i}": {"active_power_w": 10.0}},
                }
            )
            for i in range(first, last + 1)
        ]

    book = ledger()
    with capture_logs() as logs:
        book.integrate(1, 7, invented(0, 3), ports={"1", "2"})  # the first read: sets the mark only
        book.integrate(1, 7, invented(0, 6), ports={"1", "2"})
        book.integrate(1, 7, invented(2, 8), ports={"1", "2"})
        book.integrate(1, 7, invented(8, 8), ports={"1", "2"})  # nothing new: no change of state either
        book.integrate(1, 7, samples({8: 10.0, 9: 10.0}), ports={"1", "2"})
    assert book.joules(1, 7) == {"1": 10.0 * 300 * 6, "2": 0.0}
    assert book.rejected(1)["unknown_port"] == 5  # samples 4 to 8, once each
    assert [e["event"] for e in logs] == [
        "usage names ports the strip does not list; their readings are not counted",
        "usage names only the strip's own ports again",
    ]
