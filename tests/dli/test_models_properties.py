"""Properties of the DLI response models: any JSON either parses or fails as a `bad_response` `PollError`
(never another exception), and every valid document turns into exactly the samples it describes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.sources.api import PollError
from exporter.sources.dli.collector import PollData, build_samples
from exporter.sources.dli.models import (
    NOISE_FLOOR,
    OUTLET_BOOL_FIELDS,
    parse_meters,
    parse_outlets,
    parse_scalar_text,
    parse_threads,
)
from tests.dli.conftest import by_family
from tests.support.json_strategies import PROPERTY, json_values

# Documents that look nearly right: objects with the real field names and any values.
field_names = st.sampled_from([*OUTLET_BOOL_FIELDS, "name", "cycle_delay", "quantity", "value", "bus", "threads"])
near_miss = st.dictionaries(field_names | st.text(max_size=8), json_values, max_size=8)
near_docs = st.lists(near_miss, max_size=4) | st.dictionaries(st.text(max_size=12), near_miss, max_size=4)

PARSERS = {
    "outlets": lambda raw: parse_outlets(raw, "GET outlets"),
    "meters": lambda raw: parse_meters(raw, "GET meters"),
    "scalar": lambda raw: parse_scalar_text(raw, "GET scalar"),
    "threads": lambda raw: parse_threads(raw, "GET threads"),
}


@pytest.mark.parametrize("parser", PARSERS)
@PROPERTY
@given(raw=json_values | near_docs)
def test_any_json_parses_or_fails_as_bad_response(parser: str, raw: Any) -> None:
    try:
        PARSERS[parser](raw)
    except PollError as err:
        assert err.reason == "bad_response"


@pytest.mark.parametrize(
    "parser, raw",
    [
        ("meters", {"m": {"quantity": "voltage", "value": 10**400}}),
        ("outlets", [{"name": "x", **dict.fromkeys(OUTLET_BOOL_FIELDS, False), "cycle_delay": 10**400}]),
    ],
)
def test_an_integer_of_400_digits_fails_as_bad_response(parser: str, raw: Any) -> None:
    with pytest.raises(PollError) as info:
        PARSERS[parser](json.loads(json.dumps(raw)))
    assert info.value.reason == "bad_response"


outlet_docs = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.text(max_size=16),
            **{f: st.booleans() for f in OUTLET_BOOL_FIELDS},
            "cycle_delay": st.none() | st.integers(0, 3600) | st.floats(0, 3600),
        }
    ),
    max_size=16,
)


@PROPERTY
@given(doc=outlet_docs)
def test_valid_outlets_round_trip_to_their_samples(doc: list[dict[str, Any]]) -> None:
    outlets = parse_outlets(json.loads(json.dumps(doc)), "GET outlets")
    got = by_family(build_samples("d", PollData(outlets=outlets, meters=(), identity=None, script_threads=None)))
    for i, raw in enumerate(doc):
        assert got["dli_outlet_info"][("d", str(i), raw["name"])] == 1
        assert got["dli_outlet_state"][("d", str(i))] == float(raw["state"])
        assert got["dli_outlet_transient_state"][("d", str(i))] == float(raw["transient_state"])
        assert got["dli_outlet_physical_state"][("d", str(i))] == float(raw["physical_state"])
        assert got["dli_outlet_locked"][("d", str(i))] == float(raw["locked"])
        assert got["dli_outlet_critical"][("d", str(i))] == float(raw["critical"])
    assert len(got.get("dli_outlet_state", {})) == len(doc)
    assert got["dli_meters_permitted"] == {("d",): 1.0}


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
meter_value = finite | st.none() | st.sampled_from([math.nan, math.inf, -math.inf, 1.4e-45])
bus_meters = st.dictionaries(
    st.integers(0, 3),
    st.fixed_dictionaries({"voltage": meter_value, "current": meter_value}),
    max_size=4,
)


@PROPERTY
@given(buses=bus_meters)
def test_valid_bus_meters_round_trip_to_their_samples(buses: dict[int, dict[str, float | None]]) -> None:
    doc = {
        f"bus.{bus}.{quantity}": {"name": f"{quantity} {bus}", "quantity": quantity, "bus": bus, "value": v}
        for bus, values in buses.items()
        for quantity, v in values.items()
    }
    meters = parse_meters(json.loads(json.dumps(doc)), "GET meters")
    got = by_family(build_samples("d", PollData(outlets=(), meters=meters, identity=None, script_threads=None)))
    assert len(got["dli_meter_info"]) == len(doc) if doc else "dli_meter_info" not in got
    families = {"voltage": "dli_bus_voltage_volts", "current": "dli_bus_current_amperes"}
    for bus, values in buses.items():
        for quantity, v in values.items():
            series = got.get(families[quantity], {})
            if v is None or not math.isfinite(v):
                assert ("d", str(bus)) not in series  # a hole, never NaN or Inf
            else:
                assert series[("d", str(bus))] == (0.0 if abs(v) < NOISE_FLOOR else v)
    for family in got.values():
        assert all(math.isfinite(v) for v in family.values())


plausibility_meters = st.fixed_dictionaries(
    {
        "bus.0.total_energy": st.fixed_dictionaries(
            {"quantity": st.just("energy"), "bus": st.just(0), "value": finite | st.just(-393192589000.0)}
        ),
        "sensor.0.temperature": st.fixed_dictionaries(
            {"quantity": st.just("temperature"), "value": finite | st.sampled_from([-500.0, 0.0, 295.5])}
        ),
        "sensor.0.humidity": st.fixed_dictionaries(
            {"quantity": st.just("humidity"), "value": finite | st.sampled_from([-0.1, 0.0, 100.0, 100.1])}
        ),
    }
)
PLAUSIBLE_RANGES = {
    "bus.0.total_energy": ("dli_bus_energy_joules_total", ("d", "0"), lambda v: v, 0.0, math.inf),
    "sensor.0.temperature": ("dli_temperature_celsius", ("d", "sensor.0"), lambda v: v - 273.15, -273.15, math.inf),
    "sensor.0.humidity": ("dli_humidity_ratio", ("d", "sensor.0"), lambda v: v / 100, 0.0, 1.0),
}


@PROPERTY
@given(doc=plausibility_meters)
def test_a_value_no_device_can_have_is_refused_never_exported(doc: dict[str, dict[str, Any]]) -> None:
    """A negative energy counter (-393192589000 J was passed through) or a temperature below
    absolute zero (-773.15 °C) is one `implausible_value` refusal; a possible one is exported as is."""
    meters = parse_meters(json.loads(json.dumps(doc)), "GET meters")
    samples = build_samples("d", PollData(outlets=(), meters=meters, identity=None, script_threads=None))
    got = by_family(samples)
    refused = {r.series: r for r in samples.refused}
    for key, (family, labels, convert, low, high) in PLAUSIBLE_RANGES.items():
        raw = doc[key]["value"]
        value = convert(0.0 if abs(raw) < NOISE_FLOOR else raw)
        series = f'{family}{{device="d",{"bus" if family.startswith("dli_bus") else "sensor"}="{labels[1]}"}}'
        if low <= value <= high:
            assert got[family][labels] == value and series not in refused
        else:
            assert labels not in got.get(family, {})
            assert refused[series].reason == "implausible_value" and refused[series].value == value
        assert got["dli_meter_info"][("d", key, key, doc[key]["quantity"])] == 1  # the meter is still listed
