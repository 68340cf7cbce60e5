"""The example payloads of the vendor's power-strip document, as the simulator serves them.

The list elements include `lifecycle` and `subscription` as in the current
document (its trailing commas removed: the examples are not valid JSON as
published). Only `network_id` in the get payload is replaced by the network
the strip is seeded into, since the document's `123` contradicts its list.
"""

from __future__ import annotations

import copy
from typing import Any

SEED_NETWORK_ID = 12345

LIST_STRIPS: list[dict[str, Any]] = [
    {
        "powerstrip_id": 1,
        "mac": "ac:86:74:00:00:00",
        "name": "Pat's Desk MP60",
        "model": "P60",
        "ip": "",
        "created": "2018-03-23T17:12:16Z",
        "firmware_version": "6.4.6-c3b6f768496b73473b45a06b478bf2e75c6cdd5e",
        "enabled_ports": 6,
        "port_count": 6,
        "last_checkin": "2018-04-30T19:29:11.232Z",
        "need_pairing": False,
        "cloud_status": "up",
        "role": "repeater",
        "mesh_ip": "1.1.1.1",
        "lifecycle": {"end_of_sale": None, "end_of_life": None},
        "subscription": None,
        "surge_protection_active": True,
        "voltage_v": 116,
        "frequency_hz": 60,
        "uptime_seconds": 1024671,
        "active_ports": 3,
    },
    {
        "powerstrip_id": 2,
        "mac": "ac:86:74:00:00:01",
        "name": "PS test 1",
        "model": "MP60",
        "ip": None,
        "created": "2018-04-23T23:08:41Z",
        "firmware_version": "",
        "enabled_ports": 6,
        "port_count": 6,
        "last_checkin": "",
        "need_pairing": False,
        "cloud_status": "down",
        "role": "repeater",
        "mesh_ip": "",
        "lifecycle": {"end_of_sale": "2021-04-30T00:00:00Z", "end_of_life": "2026-04-30T00:00:00Z"},
        "subscription": {
            "is_active": False,
            "start_date": "2021-01-01T00:00:00Z",
            "end_date": None,
            "term": "monthly",
            "term_length": 1,
            "is_evergreen": True,
        },
        "surge_protection_active": False,
        "voltage_v": 0,
        "frequency_hz": 0,
        "uptime_seconds": 0,
        "active_ports": 0,
    },
]


def _port(port_id: int, label: str, current: float, va: float, w: float, var: float, pf: float) -> dict[str, Any]:
    return {
        "port_id": port_id,
        "label": label,
        "enable": True,
        "connection_check_name": None,
        "current_a": current,
        "apparent_power_va": va,
        "active_power_w": w,
        "reactive_power_var": var,
        "power_factor": pf,
    }


GET_STRIP_1: dict[str, Any] = {
    "powerstrip_id": 1,
    "network_id": 123,
    "mac": "ac:86:74:00:00:00",
    "name": "Pat's Desk MP60",
    "description": "",
    "model": "P60",
    "created": "2018-03-23T17:12:16Z",
    "firmware_version": "6.4.6-c3b6f768496b73473b45a06b478bf2e75c6cdd5e",
    "enable_pairing": False,
    "enable_power_switch": False,
    "enable_connection_check": False,
    "enable_connection_check_during_maintenance": False,
    "connection_check_max_retries": 0,
    "connection_check_time_between_retries": 60,
    "lifecycle": None,
    "subscription": None,
    "enable_mesh": False,
    "last_modified": "2018-04-30T20:29:17Z",
    "ip": "",
    "last_checkin": "2018-04-30T20:29:17.26Z",
    "need_pairing": False,
    "cloud_status": "up",
    "role": "repeater",
    "mesh_ip": "1.1.1.1",
    "surge_protection_active": True,
    "voltage_v": 115,
    "frequency_hz": 60,
    "uptime_seconds": 1028276,
    "active_ports": 3,
    "ports": [
        _port(1, "Device A", 0.1, 16.4, 8.5, 1.7, 0.51),
        _port(2, "2", 0, 0, 0, 0, 0),
        _port(3, "Laptop Hub", 0.2, 31.4, 19.3, 2.4, 0.61),
        _port(4, "Monitor ", 0.3, 35.9, 25.5, 3.1, 0.71),
        _port(5, "More", 0, 0, 0, 0, 0),
        _port(6, "6", 0, 0, 0, 0, 0),
    ],
    "schedule": [
        {
            "powerstrip_port_schedule_id": 67523,
            "port_ids": [3, 4],
            "days_of_week": ["fri"],
            "hour": 18,
            "minute": 0,
            "action": "port_disable",
        },
        {
            "powerstrip_port_schedule_id": 349834,
            "port_ids": [3, 4],
            "days_of_week": ["mon"],
            "hour": 7,
            "minute": 30,
            "action": "port_enable",
        },
        {
            "powerstrip_port_schedule_id": 876324234,
            "port_ids": [3],
            "days_of_week": ["mon", "tue", "wed", "thu", "fri"],
            "hour": 7,
            "minute": 45,
            "action": "port_reset",
        },
    ],
    "connection_checks": [
        {
            "connection_check_name": " test",
            "hostname_1": "nist.gov",
            "hostname_2": None,
            "hostname_3": None,
            "hostname_4": None,
        },
        {
            "connection_check_name": "Default List",
            "hostname_1": "google.com",
            "hostname_2": "amazon.com",
            "hostname_3": "datto.com",
            "hostname_4": "facebook.com",
        },
    ],
}

USAGE_SAMPLE: dict[str, Any] = {
    "time": "2018-04-29T23:00:00Z",
    "ports": {
        "1": {"active_power_w": 8, "voltage_v": 118, "current_a": 0.1},
        "2": {"active_power_w": 0, "voltage_v": 118, "current_a": 0},
        "3": {"active_power_w": 0, "voltage_v": 118, "current_a": 0},
        "4": {"active_power_w": 0, "voltage_v": 118, "current_a": 0},
        "5": {"active_power_w": 0, "voltage_v": 118, "current_a": 0},
        "6": {"active_power_w": 0, "voltage_v": 118, "current_a": 0},
    },
    "memory_available": 0,
    "role": "",
}

USAGE_SAMPLE_COUNT = 24
USAGE_SPACING_SECONDS = 300
SEED_USAGE_EPOCH = 1525042800.0  # 2018-04-29T23:00:00Z, the document's sample time

SETTINGS: dict[str, Any] = {
    "enable_power_switch": False,
    "enable_mesh": False,
    "enable_upgrade": False,
    "firmware_tag": "stable",
}

FIRMWARE_VERSIONS: list[dict[str, Any]] = [
    {"tag_id": "1", "tag": "stable", "build": ""},
    {"tag_id": "6", "tag": "beta", "build": ""},
]


def usage_samples() -> list[dict[str, Any]]:
    """The document's one usage sample, continued as its `...` implies: 24 samples
    (the 2hours layout) 5 minutes apart with the same readings, oldest first."""
    out = []
    for i in range(USAGE_SAMPLE_COUNT):
        sample = copy.deepcopy(USAGE_SAMPLE)
        t = SEED_USAGE_EPOCH + i * USAGE_SPACING_SECONDS
        sample["time"] = _iso(t)
        out.append(sample)
    return out


def _iso(t: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_strip_1(network_id: int) -> dict[str, Any]:
    payload = copy.deepcopy(GET_STRIP_1)
    payload["network_id"] = network_id
    return payload
