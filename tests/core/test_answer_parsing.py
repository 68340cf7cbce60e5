"""Bounded, exception-safe reading of upstream answers: the shared helpers and both vendors' parsers.

Property tests feed arbitrary JSON (and arbitrary bytes) to the same entry points the clients use
and require that nothing but the project's `PollError` ever comes out, quickly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.sources.api import DEFAULT_MAX_ITEMS, PollError, SourceContext
from exporter.sources.cloudtrax import models as ct
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.dli import models as dli
from exporter.sources.dli.client import ClientSettings, DliClient
from exporter.sources.httpclient import MAX_RETRY_AFTER, Answer, check_items, decode_json, load_json, parse_retry_after

HUGE_INT = 10**400

# -- Retry-After ------------------------------------------------------------------


@pytest.mark.parametrize("header", ["²", "٣", "١٢٠", "¹²", "-5", "1.5", "soon", "Mon, 99 Foo 99999 99:99:99 GMT"])
def test_retry_after_that_is_no_http_value_is_ignored(header: str) -> None:
    assert parse_retry_after(header) is None


def test_retry_after_seconds_and_clamp() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("9" * 400) == MAX_RETRY_AFTER


@given(st.text(max_size=40))
def test_retry_after_never_raises(header: str) -> None:
    got = parse_retry_after(header)
    assert got is None or (math.isfinite(got) and 0.0 <= got <= MAX_RETRY_AFTER)


# -- JSON decoding and the item cap ---------------------------------------------------


def test_deep_nesting_is_bad_response() -> None:
    with pytest.raises(PollError, match="nested too deeply") as info:
        load_json(b"[" * 100_000 + b"]" * 100_000, "GET /x")
    assert info.value.reason == "bad_response"


def test_integer_beyond_the_digit_limit_is_bad_response() -> None:
    with pytest.raises(PollError, match="malformed JSON") as info:
        load_json(b"[" + b"1" * 5000 + b"]", "GET /x")
    assert info.value.reason == "bad_response"


def test_item_cap_applies_to_every_list_and_object() -> None:
    check_items({"a": [1, 2, 3], "b": {"c": [[1, 2, 3]]}}, 3, "GET /x")
    with pytest.raises(PollError, match=r"GET /x: a list of 4 elements exceeds max_items_per_answer \(3\)"):
        check_items({"a": [1, 2, 3], "b": {"c": [[1, 2, 3, 4]]}}, 3, "GET /x")
    with pytest.raises(PollError, match="an object of 4 elements"):
        check_items([{"k1": 1, "k2": 2, "k3": 3, "k4": 4}], 3, "GET /x")


def test_decode_json_refuses_a_list_over_the_default_cap() -> None:
    body = json.dumps({"powerstrips": ["x"] * (DEFAULT_MAX_ITEMS + 1)}).encode()
    with pytest.raises(PollError, match="exceeds max_items_per_answer") as info:
        decode_json(body, "application/json", "GET /powerstrip/network/1/list")
    assert info.value.reason == "bad_response"


@given(st.lists(st.integers(0, 9), max_size=12), st.integers(1, 12))
def test_item_cap_holds_for_the_smallest_encodings(items: list[int], limit: int) -> None:
    body = json.dumps(items, separators=(",", ":")).encode()
    if len(items) > limit:
        with pytest.raises(PollError, match="exceeds max_items_per_answer"):
            decode_json(body, "application/json", "GET /x", max_items=limit)
    else:
        assert decode_json(body, "application/json", "GET /x", max_items=limit) == items


@given(st.binary(max_size=200))
def test_decode_json_on_arbitrary_bytes_raises_only_poll_error(body: bytes) -> None:
    try:
        decode_json(body, "application/json", "GET /x", max_items=5)
    except PollError as exc:
        assert exc.reason == "bad_response"


# -- vendor parsers on arbitrary JSON -----------------------------------------------------

FIELD_NAMES = (
    "powerstrips",
    "powerstrip_id",
    "ports",
    "port_id",
    "usage",
    "time",
    "voltage_v",
    "active_power_w",
    "networks",
    "id",
    "network_id",
    "firmware_versions",
    "schedule",
    "port_ids",
    "lifecycle",
    "last_checkin",
    "errors",
    "name",
    "state",
    "transient_state",
    "physical_state",
    "locked",
    "critical",
    "cycle_delay",
    "quantity",
    "value",
    "bus",
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(HUGE_INT)
    | st.just(-HUGE_INT)
    | st.floats()
    | st.sampled_from(["", "12", "2018-04-30T19:29:11Z", "1e999", "²", "true", "NaN"])
    | st.text(max_size=10)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=40,
)
CLOUDTRAX_MODELS = (
    ct.PowerStripList,
    ct.PowerStrip,
    ct.UsageResponse,
    ct.NetworkList,
    ct.FirmwareVersionList,
    ct.NetworkSettings,
    ct.ServerTime,
    ct.CreatedPowerStrip,
)
_CT_CLIENT = CloudTraxClient("k" * 64, "s" * 64, max_items=20)


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=JSON, model=st.sampled_from(CLOUDTRAX_MODELS))
def test_cloudtrax_parsing_raises_only_poll_error(data: Any, model: type[Any]) -> None:
    wrapped = {"powerstrips": [data], "usage": [data], "networks": [data], "powerstrip_id": 1, "time": data}
    for candidate in (data, wrapped):
        response = Answer(200, _body(candidate), "application/json", {})
        try:
            _CT_CLIENT.parse_answer(model, "GET /x", response)
        except PollError as exc:
            assert exc.reason in ("bad_response", "http_status", "auth", "rate_limited")


@settings(max_examples=100, deadline=None)
@given(data=JSON, status=st.sampled_from([400, 401, 429, 500]))
def test_cloudtrax_error_envelopes_never_raise_while_read(data: Any, status: int) -> None:
    response = Answer(status, _body({"errors": data}), "application/json", {"Retry-After": "²"})
    error = _CT_CLIENT._error("GET /x", response)
    assert isinstance(error, PollError)


_DLI_CLIENT = DliClient(ClientSettings("http://127.0.0.1:1", "admin", "pw", max_items=20), SourceContext("dli", 1))
DLI_PARSERS: tuple[Callable[[Any], object], ...] = (
    lambda raw: dli.parse_outlets(raw, "GET /restapi/relay/outlets/"),
    lambda raw: dli.parse_outlet(0, raw, "GET /restapi/relay/outlets/{n}/"),
    lambda raw: dli.parse_meters(raw, "GET /restapi/meter/values/"),
    lambda raw: dli.parse_scalar_text(raw, "GET /restapi/config/serial/"),
    lambda raw: dli.parse_threads(raw, "GET /restapi/script/threads/"),
)


@settings(max_examples=300, deadline=None)
@given(data=JSON, parse=st.sampled_from(DLI_PARSERS))
def test_dli_parsing_raises_only_poll_error(data: Any, parse: Callable[[Any], object]) -> None:
    for candidate in (data, [data], {"m": data}):
        response = Answer(200, _body(candidate), "application/json", {})
        try:
            _DLI_CLIENT._decode("GET /x", response, parse)
        except PollError as exc:
            assert exc.reason == "bad_response"


def test_cloudtrax_huge_reading_is_bad_response_with_a_clear_message() -> None:
    body = _body({"powerstrips": [{"powerstrip_id": 1, "voltage_v": HUGE_INT}]})
    with pytest.raises(PollError, match=r"powerstrips\.0\.voltage_v: Value error, number too large") as info:
        _CT_CLIENT.parse_answer(ct.PowerStripList, "GET /list", Answer(200, body, "application/json", {}))
    assert info.value.reason == "bad_response"


def test_cloudtrax_validation_stops_at_the_first_bad_item() -> None:
    client = CloudTraxClient("k" * 64, "s" * 64, max_items=10**7)
    body = _body({"powerstrips": ["x"] * 200_000})
    with pytest.raises(PollError, match=r"powerstrips\.0: ") as info:
        client.parse_answer(ct.PowerStripList, "GET /list", Answer(200, body, "application/json", {}))
    assert "(and" not in str(info.value) and str(info.value).count(";") == 0


def test_dli_huge_numbers_are_bad_response() -> None:
    outlet = {
        "name": "a",
        "state": True,
        "transient_state": True,
        "physical_state": True,
        "locked": False,
        "critical": False,
        "cycle_delay": HUGE_INT,
    }
    with pytest.raises(PollError, match="cycle_delay is too large a number"):
        dli.parse_outlets([outlet], "GET /o")
    with pytest.raises(PollError, match="value is too large a number"):
        dli.parse_meters({"v": {"quantity": "voltage", "value": HUGE_INT}}, "GET /m")
