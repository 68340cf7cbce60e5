"""Meters map by quantity: only unknown quantities are exported raw, in `dli_meter_value`."""

from __future__ import annotations

import itertools

from exporter.sources.dli.collector import PollData, build_samples
from exporter.sources.dli.config import DEFAULT_QUANTITY_ALIASES
from exporter.sources.dli.models import Meter

QUANTITIES = [*DEFAULT_QUANTITY_ALIASES, "frequency", "kwh_counter", ""]


def _families(meters: list[Meter]) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    samples = build_samples("dev", PollData(outlets=(), meters=meters, identity=None, script_threads=None))
    return {f.spec.name: list(f.samples) for f in samples.families}


def test_known_quantities_never_land_in_meter_value() -> None:
    """Every quantity, with and without a bus, twice (a duplicate series): raw only when unknown."""
    meters = [
        Meter(f"m{i}", f"meter {i}", quantity, bus, 1.0 + i)
        for i, (quantity, bus) in enumerate(itertools.product(QUANTITIES * 2, ["0", None]))
    ]
    got = _families(meters)
    raw = {labels[2] for labels, _ in got.get("dli_meter_value", [])}
    assert raw == {"frequency", "kwh_counter", ""}
    assert len(got["dli_meter_info"]) == len(meters)  # every meter is still listed
    for family, samples in got.items():
        keys = [labels for labels, _ in samples]
        assert len(keys) == len(set(keys)), f"duplicate series in {family}"


def test_known_quantity_without_a_metric_is_left_out() -> None:
    got = _families([Meter("aux", "Aux current", "current", None, 0.5), Meter("f", "Freq", "frequency", None, 60.0)])
    assert got["dli_meter_value"] == [(("dev", "f", "frequency"), 60.0)]
    assert "dli_bus_current_amperes" not in got
    assert {labels[1] for labels, _ in got["dli_meter_info"]} == {"aux", "f"}
