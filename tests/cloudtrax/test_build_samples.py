"""`build_samples` on hand-made payloads: the edge cases the seed does not cover."""

from __future__ import annotations

from exporter.sources.cloudtrax.collector import build_samples
from exporter.sources.cloudtrax.models import NetworkSettings, PowerStrip, PowerStripSummary
from tests.cloudtrax.conftest import by_labels

KEY = ("9", "5")


def strip(**fields: object) -> PowerStripSummary:
    return PowerStripSummary.model_validate({"powerstrip_id": 5, "cloud_status": "up", **fields})


def detail(**fields: object) -> PowerStrip:
    return PowerStrip.model_validate({"powerstrip_id": 5, **fields})


def test_values_missing_from_the_list_come_from_the_get() -> None:
    listed = strip(voltage_v=None, last_checkin="", firmware_version="")
    got = detail(
        voltage_v=119.5,
        last_checkin="2024-01-01T00:00:10Z",
        uptime_seconds=10,
        firmware_version="7.0",
        ports=[{"port_id": 1, "enable": True, "active_power_w": 3}, {"port_id": 2, "enable": False}],
    )
    samples = build_samples(9, [listed], {5: got}, {}, None, None)
    assert by_labels(samples, "cloudtrax_powerstrip_voltage_volts") == {KEY: 119.5}
    assert by_labels(samples, "cloudtrax_powerstrip_last_checkin_timestamp_seconds") == {KEY: 1704067210.0}
    assert by_labels(samples, "cloudtrax_powerstrip_boot_time_seconds") == {KEY: 1704067200.0}
    assert by_labels(samples, "cloudtrax_powerstrip_ports") == {KEY: 2.0}
    assert by_labels(samples, "cloudtrax_powerstrip_enabled_ports") == {KEY: 1.0}
    assert next(iter(by_labels(samples, "cloudtrax_powerstrip_info")))[5] == "7.0"


def test_subscription_end_and_unknown_values() -> None:
    listed = strip(
        subscription={"is_active": True, "end_date": "2030-01-01T00:00:00Z"},
        lifecycle={"end_of_sale": None, "end_of_life": None},
        voltage_v="n/a",
    )
    samples = build_samples(9, [listed], {}, {}, None, None)
    assert by_labels(samples, "cloudtrax_powerstrip_subscription_active") == {KEY: 1.0}
    assert by_labels(samples, "cloudtrax_powerstrip_subscription_end_timestamp_seconds") == {KEY: 1893456000.0}
    assert by_labels(samples, "cloudtrax_powerstrip_end_of_life_timestamp_seconds") == {}
    assert by_labels(samples, "cloudtrax_powerstrip_voltage_volts") == {}  # unknown, not zero
    assert by_labels(samples, "cloudtrax_powerstrip_power_watts") == {}  # no get, no sum


def test_a_repeated_port_gives_one_series() -> None:
    got = detail(ports=[{"port_id": 1, "active_power_w": 1}, {"port_id": 1, "active_power_w": 2}])
    samples = build_samples(9, [strip()], {5: got}, {5: {"1": 12.0}}, None, None)
    assert by_labels(samples, "cloudtrax_powerstrip_port_power_watts") == {(*KEY, "1"): 2.0}
    assert by_labels(samples, "cloudtrax_powerstrip_port_energy_joules_total") == {(*KEY, "1"): 12.0}


def test_network_settings_without_a_tag() -> None:
    settings = NetworkSettings.model_validate({"enable_mesh": True})
    samples = build_samples(9, [], {}, {}, settings, [])
    assert by_labels(samples, "cloudtrax_network_powerstrip_settings_info") == {("9", ""): 1.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_mesh_enabled") == {("9",): 1.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_power_switch_enabled") == {}
