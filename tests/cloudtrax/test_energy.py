"""The energy ledger on hand-made usage: spacing, overlap, holes, and never going down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.models import UsageSample

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def samples(watts: dict[int, float], *, start: int = 0, spacing: int = 300) -> list[UsageSample]:
    """One sample per key (its index on a 5-minute grid), port "1" drawing the given power."""
    return [
        UsageSample.model_validate(
            {"time": T0 + timedelta(seconds=(start + i) * spacing), "ports": {"1": {"active_power_w": w}, "2": {}}}
        )
        for i, w in sorted(watts.items())
    ]


def test_power_times_spacing_from_the_second_sample() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0, 1: 20.0, 2: 30.0}))
    assert ledger.joules(1, 7) == {"1": (20.0 + 30.0) * 300, "2": 0.0}


def test_overlapping_windows_count_each_sample_once() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0, 1: 10.0, 2: 10.0}))
    first = ledger.joules(1, 7)["1"]
    ledger.integrate(1, 7, samples({1: 10.0, 2: 10.0, 3: 10.0, 4: 10.0}))
    assert ledger.joules(1, 7)["1"] == first + 2 * 10.0 * 300
    ledger.integrate(1, 7, samples({3: 10.0, 4: 10.0}))  # nothing new
    assert ledger.joules(1, 7)["1"] == first + 2 * 10.0 * 300


def test_first_sample_of_a_later_window_joins_the_previous_one() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 5.0, 1: 5.0}))
    ledger.integrate(1, 7, samples({2: 8.0}))  # single new sample, adjacent to the last counted
    assert ledger.joules(1, 7)["1"] == 5.0 * 300 + 8.0 * 300


def test_holes_are_skipped_not_guessed() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0, 1: 10.0, 10: 10.0, 11: 10.0}))
    assert ledger.joules(1, 7)["1"] == 2 * 10.0 * 300


def test_unknown_spacing_counts_nothing() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0}))
    assert ledger.joules(1, 7) == {"1": 0.0, "2": 0.0}


def test_negative_or_missing_power_never_decreases_the_counter() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0, 1: -50.0, 2: 10.0}))
    assert ledger.joules(1, 7)["1"] == 10.0 * 300
    before = ledger.joules(1, 7)["1"]
    ledger.integrate(1, 7, samples({0: 999.0, 1: 999.0}))  # older data cannot rewrite history
    assert ledger.joules(1, 7)["1"] == before


def test_newest_first_order_is_handled() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, list(reversed(samples({0: 10.0, 1: 10.0, 2: 10.0}))))
    assert ledger.joules(1, 7)["1"] == 2 * 10.0 * 300


def test_strips_are_kept_apart() -> None:
    ledger = EnergyLedger()
    ledger.integrate(1, 7, samples({0: 10.0, 1: 10.0}))
    assert ledger.joules(1, 8) == {}
    assert ledger.joules(2, 7) == {}
