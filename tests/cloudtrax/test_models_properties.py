"""Properties of the CloudTrax response models as the client applies them: any JSON body either
parses or fails as a `CloudTraxError` with one of the engine's reasons (never another exception),
and valid generated documents turn into exactly the samples they describe."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, get_args

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from exporter.metrics.reasons import POLL_FAILURE_REASONS
from exporter.sources.cloudtrax import models
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.collector import build_samples
from exporter.sources.cloudtrax.errors import CloudTraxError
from exporter.sources.cloudtrax.models import (
    FirmwareVersionList,
    NetworkList,
    NetworkSettings,
    PowerStrip,
    PowerStripList,
    ServerTime,
    UsageResponse,
)
from exporter.sources.httpclient import Answer
from tests.dli.conftest import by_family
from tests.support.json_strategies import PROPERTY, json_scalars, json_values

MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (PowerStripList, PowerStrip, UsageResponse, NetworkSettings, FirmwareVersionList, NetworkList, ServerTime)
}

FIELD_NAMES = (
    *("powerstrips", "powerstrip_id", "ports", "port_id", "active_power_w", "usage", "time", "networks", "id"),
    *("firmware_versions", "errors", "code", "message", "last_checkin", "lifecycle", "name", "enable"),
)
fields = st.sampled_from(FIELD_NAMES)
near_miss = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(fields, children, max_size=6),
    max_leaves=30,
)


def parse(model: type[BaseModel], body: bytes) -> BaseModel:
    client = CloudTraxClient("k" * 64, "s" * 64)
    return client.parse_answer(model, "GET /x", Answer(200, body, "application/json", {}))


@pytest.mark.parametrize("model", MODELS)
@PROPERTY
@given(raw=json_values | near_miss)
def test_any_json_parses_or_fails_with_a_known_reason(model: str, raw: Any) -> None:
    try:
        parse(MODELS[model], json.dumps(raw).encode())
    except CloudTraxError as err:
        assert err.reason in POLL_FAILURE_REASONS


def test_an_integer_of_400_digits_fails_as_bad_response() -> None:
    body = b'{"powerstrip_id": 1, "ports": [{"port_id": 1, "active_power_w": 1' + b"0" * 400 + b"}]}"
    with pytest.raises(CloudTraxError):
        parse(PowerStrip, body)


finite = st.floats(min_value=0, max_value=5000, allow_nan=False)
ports = st.dictionaries(st.integers(1, 8), finite | st.none(), min_size=1, max_size=4)
StripDoc = tuple[str, dict[int, float | None], bool]
"""Name, power by port id (None: unknown), and whether the API repeats the strip and its ports."""
strips = st.dictionaries(
    st.integers(1, 10**9),
    st.tuples(st.text(max_size=12), ports, st.booleans()),
    max_size=5,
)


@PROPERTY
@given(strips=strips)
def test_valid_documents_round_trip_to_their_samples(
    strips: dict[int, tuple[str, dict[int, float | None], bool]],
) -> None:
    # the list repeats a strip when asked to (duplicates are one strip), as does each port list
    listed = [{"powerstrip_id": sid, "name": name, "cloud_status": "up"} for sid, (name, _, _) in strips.items()]
    listed += [entry for entry, (_, _, twice) in zip(listed, strips.values(), strict=True) if twice]
    summary = parse(PowerStripList, json.dumps({"powerstrips": listed}).encode())
    assert isinstance(summary, PowerStripList)
    details = {}
    for sid, (_, port_power, twice) in strips.items():
        doc_ports = [{"port_id": pid, "active_power_w": w, "label": f"p{pid}"} for pid, w in port_power.items()]
        doc = {"powerstrip_id": sid, "ports": doc_ports * (2 if twice else 1)}
        detail = parse(PowerStrip, json.dumps(doc).encode())
        assert isinstance(detail, PowerStrip)
        details[sid] = detail
    unique = list({s.powerstrip_id: s for s in summary.powerstrips}.values())
    got = by_family(build_samples(7, unique, details, {}, None, None))
    assert {key[1] for key in got.get("cloudtrax_powerstrip_info", {})} == {str(sid) for sid in strips}
    for sid, (_, port_power, _) in strips.items():
        power = got.get("cloudtrax_powerstrip_port_power_watts", {})
        for pid, w in port_power.items():
            key = ("7", str(sid), str(pid))
            if w is None:
                assert key not in power  # unknown is a hole, not zero
            else:
                assert power[key] == w
        assert got["cloudtrax_powerstrip_power_watts"][("7", str(sid))] == pytest.approx(
            sum(w or 0.0 for w in port_power.values())
        )
    for family in got.values():
        assert all(math.isfinite(v) for v in family.values())


readings = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False) | st.none()


@PROPERTY
@given(
    voltage=readings,
    frequency=readings,
    current=readings,
    apparent=readings,
    factor=st.floats(min_value=-3, max_value=3, allow_nan=False) | st.none(),
)
def test_a_reading_no_strip_can_have_is_refused_never_exported(
    voltage: float | None, frequency: float | None, current: float | None, apparent: float | None, factor: float | None
) -> None:
    listed = {"powerstrip_id": 1, "cloud_status": "up", "voltage_v": voltage, "frequency_hz": frequency}
    port = {"port_id": 1, "current_a": current, "apparent_power_va": apparent, "power_factor": factor}
    summary = parse(PowerStripList, json.dumps({"powerstrips": [listed]}).encode())
    detail = parse(PowerStrip, json.dumps({"powerstrip_id": 1, "ports": [port]}).encode())
    assert isinstance(summary, PowerStripList) and isinstance(detail, PowerStrip)
    samples = build_samples(7, summary.powerstrips, {1: detail}, {}, None, None)
    got = by_family(samples)
    refused = {r.spec.name: r for r in samples.refused}
    cases = {
        "cloudtrax_powerstrip_voltage_volts": (voltage, ("7", "1"), 0.0, math.inf),
        "cloudtrax_powerstrip_frequency_hertz": (frequency, ("7", "1"), 0.0, math.inf),
        "cloudtrax_powerstrip_port_current_amperes": (current, ("7", "1", "1"), 0.0, math.inf),
        "cloudtrax_powerstrip_port_apparent_power_voltamperes": (apparent, ("7", "1", "1"), 0.0, math.inf),
        "cloudtrax_powerstrip_port_power_factor_ratio": (factor, ("7", "1", "1"), -1.0, 1.0),
    }
    for family, (value, labels, low, high) in cases.items():
        if value is None:
            assert labels not in got.get(family, {}) and family not in refused
        elif low <= value <= high:
            assert got[family][labels] == value and family not in refused
        else:
            assert labels not in got.get(family, {})
            assert refused[family].reason == "implausible_value" and refused[family].value == value
    assert len(samples.refused) == len(refused)


TOLERANT_FIELDS = {
    "Number": models.Number,
    "Reading": models.Reading,
    "Flag": models.Flag,
    "Text": models.Text,
    "OptText": models.OptText,
    "Timestamp": models.Timestamp,
    "Id": models.Id,
    "OptId": models.OptId,
}
times = st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat()) | st.sampled_from(
    ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1234567Z", "2024-01-01 00:00", "2024-01-01", "24:00", "2024-13-01"]
)
numeric_text = st.floats(allow_nan=True, allow_infinity=True).map(str) | st.sampled_from([" 1.5 ", "1_0", "0x1"])


def _without_native_first(alias: Any) -> Any:
    """The same field with only its tolerant parser (what validated every value before `NativeFirst`)."""
    base, *meta = get_args(alias)
    return Annotated.__class_getitem__((base, *(m for m in meta if not isinstance(m, models.NativeFirst))))  # type: ignore[attr-defined]


def _outcome(validate: Any, value: Any) -> tuple[str, Any]:
    try:
        result = validate(value)
    except ValidationError:
        return "error", None
    return ("ok", result.timestamp() if isinstance(result, datetime) else result)


@pytest.mark.parametrize("name", TOLERANT_FIELDS)
@PROPERTY
@given(value=json_values | times | numeric_text | st.integers() | st.just(10**400))
def test_native_first_fields_read_every_json_value_as_their_tolerant_parser_does(name: str, value: Any) -> None:
    """The answers are validated from their bytes with `NativeFirst`; before, from `json.loads` with the
    tolerant parser alone. Every value comes out the same, or fails both ways."""
    alias = TOLERANT_FIELDS[name]
    body = json.dumps(value)
    fast = _outcome(TypeAdapter(alias).validate_json, body)
    before = _outcome(TypeAdapter(_without_native_first(alias)).validate_python, json.loads(body))
    if before[0] == "ok" and isinstance(before[1], float) and math.isnan(before[1]):
        assert fast[0] == "ok" and math.isnan(fast[1])
    else:
        assert fast == before


@pytest.mark.parametrize("model", MODELS)
@PROPERTY
@given(raw=json_values | near_miss)
def test_an_answer_read_from_its_bytes_is_what_it_was_read_from_json_loads(model: str, raw: Any) -> None:
    body = json.dumps(raw).encode()
    assume(b'"errors"' not in body)  # an error envelope fails before validation, either way
    try:
        fast: Any = parse(MODELS[model], body)
    except CloudTraxError:
        fast = "error"
    try:
        before: Any = MODELS[model].model_validate(json.loads(body))
    except (ValidationError, ValueError, ArithmeticError):
        before = "error"
    assert fast == before
