"""Tolerant parsing of every documented variation, and rejection of what cannot be meant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from exporter.sources.cloudtrax.models import (
    FirmwareVersion,
    Network,
    PowerStrip,
    PowerStripSummary,
    UsageResponse,
    parse_time,
)
from powerstrip_sim.cloudtrax import seed


def summary(**fields: object) -> PowerStripSummary:
    return PowerStripSummary.model_validate({"powerstrip_id": 1, **fields})


@pytest.mark.parametrize("value", [None, ""])
def test_ip_null_or_empty_is_unknown(value: object) -> None:
    assert summary(ip=value).ip is None


def test_ip_kept_when_present() -> None:
    assert summary(ip="10.0.0.5").ip == "10.0.0.5"


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("2018-04-30T19:29:11Z", 0),
        ("2018-04-30T19:29:11.2Z", 200000),
        ("2018-04-30T20:29:17.26Z", 260000),
        ("2018-04-30T19:29:11.232Z", 232000),
    ],
)
def test_last_checkin_with_zero_to_three_fractional_digits(text: str, micro: int) -> None:
    parsed = summary(last_checkin=text).last_checkin
    assert parsed is not None
    assert parsed.replace(microsecond=0) == datetime(2018, 4, 30, parsed.hour, parsed.minute, parsed.second, tzinfo=UTC)
    assert parsed.microsecond == micro
    assert parsed.tzinfo is not None


def test_last_checkin_empty_means_never() -> None:
    assert summary(last_checkin="").last_checkin is None


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday")


def test_numbers_int_or_float() -> None:
    as_int = summary(voltage_v=116, frequency_hz=60, uptime_seconds=1024671, active_ports=3)
    as_float = summary(voltage_v=116.0, frequency_hz=59.9, uptime_seconds=1024671.0, active_ports=3.0)
    assert as_int.voltage_v == 116.0 and isinstance(as_int.voltage_v, float)
    assert as_float.frequency_hz == 59.9
    assert as_int.active_ports == as_float.active_ports == 3.0


def test_lifecycle_and_subscription_null_or_objects() -> None:
    one, two = (PowerStripSummary.model_validate(s) for s in seed.LIST_STRIPS)
    assert one.subscription is None
    assert one.lifecycle is not None and one.lifecycle.end_of_life is None
    assert two.lifecycle is not None
    assert two.lifecycle.end_of_life == datetime(2026, 4, 30, tzinfo=UTC)
    assert two.subscription is not None
    assert two.subscription.is_active is False
    assert two.subscription.end_date is None
    assert summary(lifecycle=None, subscription=None).lifecycle is None


def test_unknown_fields_are_ignored() -> None:
    strip = summary(name="x", brand_new_field={"a": 1}, another=[1, 2])
    assert strip.name == "x"
    assert not hasattr(strip, "brand_new_field")


def test_get_payload_of_the_document() -> None:
    strip = PowerStrip.model_validate(seed.GET_STRIP_1)
    assert [p.port_id for p in strip.ports] == [1, 2, 3, 4, 5, 6]
    port4 = strip.ports[3]
    assert (port4.label, port4.active_power_w, port4.power_factor) == ("Monitor ", 25.5, 0.71)
    assert strip.connection_checks[0].connection_check_name == " test"
    assert strip.schedule[2].days_of_week == ["mon", "tue", "wed", "thu", "fri"]


def test_usage_ports_keyed_by_string() -> None:
    usage = UsageResponse.model_validate({"usage": seed.usage_samples()})
    assert usage.usage[0].ports["1"].active_power_w == 8.0
    assert usage.usage[0].time == datetime(2018, 4, 29, 23, tzinfo=UTC)


def test_usage_points_without_time_are_dropped() -> None:
    points = [{"time": "", "ports": {}}, {"ports": {}}, {"time": "2018-04-29T23:05:00.5Z", "ports": None}]
    usage = UsageResponse.model_validate({"usage": points})
    assert [p.time for p in usage.usage] == [datetime(2018, 4, 29, 23, 5, 0, 500000, tzinfo=UTC)]
    assert usage.usage[0].ports == {}


def test_firmware_tag_id_number_or_string() -> None:
    assert FirmwareVersion.model_validate({"tag_id": 6, "tag": "beta", "build": ""}).tag_id == "6"
    assert FirmwareVersion.model_validate({"tag_id": "1", "tag": "stable", "build": None}).build == ""


def test_network_id_alias_of_api_v2() -> None:
    assert Network.model_validate({"network_id": 7, "name": "n"}).id == 7


@pytest.mark.parametrize("bad", [{"name": "no id"}, {"powerstrip_id": True}, {"powerstrip_id": 1.5}])
def test_ids_are_required_integers(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PowerStripSummary.model_validate(bad)
