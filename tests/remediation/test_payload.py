"""Alertmanager's payload parser: any input is either a valid notification or one clear WebhookError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.remediation.payload import parse_time
from exporter.remediation.webhook import WebhookError, parse_notification

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
ALERT = {
    "status": "firing",
    "labels": {"alertname": "HostProbeFailing"},
    "startsAt": "2026-11-30T10:00:00.123456789Z",
    "fingerprint": "0123456789abcdef",
}


def check(body: bytes) -> None:
    try:
        parse_notification(body, "application/json")
    except WebhookError as err:
        assert err.status == 400
        assert len(err.detail) < 700


@given(JSON)
def test_any_json_is_a_notification_or_a_400(value: Any) -> None:
    check(json.dumps(value).encode())


@given(st.binary(max_size=200))
def test_any_bytes_are_a_notification_or_a_400(body: bytes) -> None:
    check(body)


@given(st.dictionaries(st.sampled_from(["status", "labels", "startsAt", "fingerprint", "x"]), JSON, max_size=5))
def test_alerts_with_any_fields_are_a_notification_or_a_400(fields: dict[str, Any]) -> None:
    doc = {"version": "4", "status": "firing", "receiver": "r", "alerts": [{**ALERT, **fields}]}
    check(json.dumps(doc).encode())


def test_a_valid_notification_and_alertmanagers_nanosecond_times() -> None:
    doc = {"version": "4", "status": "firing", "receiver": "r", "alerts": [ALERT], "groupKey": "{}", "extra": 1}
    notification = parse_notification(json.dumps(doc).encode(), "application/json")
    [alert] = notification.alerts
    assert alert.startsAt.isoformat() == "2026-11-30T10:00:00.123456+00:00"
    assert parse_time("2026-11-30T11:00:00+01:00") == parse_time("2026-11-30T10:00:00Z")


@pytest.mark.parametrize("text", ["2026-11-30", "2026-11-30T10:00:00", "2026-13-30T10:00:00Z", "", "now"])
def test_times_without_a_zone_or_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected an RFC 3339 time"):
        parse_time(text)
