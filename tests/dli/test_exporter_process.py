"""The real `powerstrip-exporter` process polling real DLI simulators on 127.0.0.1.

The simulators run on the test's event loop; the exporter is a separate process
(`tests/support/process.py`). Every wait is bounded by the helper.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from powerstrip_sim.dli import DliSimulator
from tests.support.process import ExporterProcess, Samples, find, value

ROOT = Path(__file__).resolve().parents[2]
VICTIM_PW = "Vict1m-Pa55-x9"
BYSTANDER_PW = "Bystand3r-Pa55-y8"
RIGHT_PW = "R1ght-Pa55-z7"
WRONG_PW = "Wr0ng-Pa55-q6"
SECRETS = (VICTIM_PW, BYSTANDER_PW, RIGHT_PW, WRONG_PW)

FAULTS: list[tuple[dict[str, Any], str]] = [
    ({"wrong_credentials": True}, "auth"),
    ({"http_status": 500}, "http_status"),
    ({"http_status": 503}, "http_status"),
    ({"malformed_json": True}, "bad_response"),
    ({"html_page": True}, "bad_response"),
    ({"drop_connection": True}, "connection"),
    ({"latency": 6.0}, "timeout"),
    ({"http_status": 502, "path_prefix": "meter/"}, "http_status"),
]


@dataclass
class Fleet:
    exp: ExporterProcess
    victim: DliSimulator
    bystander: DliSimulator
    badpw: DliSimulator


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        victim = await stack.enter_async_context(DliSimulator("epcr", password=VICTIM_PW))
        bystander = await stack.enter_async_context(DliSimulator("din4", password=BYSTANDER_PW))
        badpw = await stack.enter_async_context(DliSimulator("pro", password=RIGHT_PW))
        pw_file = tmp_path / "bystander.pw"
        pw_file.write_text(BYSTANDER_PW + "\n")
        config = {
            # A timeout that a busy machine's loopback never reaches (the latency fault is well
            # beyond it), and the shortest interval that allows it.
            "global": {"interval": "2s", "timeout": "2s", "jitter": 0, "backoff_max": "2s"},
            "targets": [
                {"source": "dli", "name": "victim", "url": victim.url, "username": "admin", "password": "${DLI_PW}"},
                {
                    "source": "dli",
                    "name": "bystander",
                    "url": bystander.url,
                    "username": "admin",
                    "password_file": str(pw_file),
                },
                {"source": "dli", "name": "badpw", "url": badpw.url, "username": "admin", "password": WRONG_PW},
            ],
        }
        env = {"PYTHONPATH": str(ROOT), "DLI_PW": VICTIM_PW}
        exp = await stack.enter_async_context(ExporterProcess(tmp_path, yaml.safe_dump(config), env=env))
        yield Fleet(exp, victim, bystander, badpw)


def failures(m: Samples, target: str, reason: str) -> float:
    got = value(m, "powerstrip_exporter_target_poll_failures_total", source="dli", target=target, reason=reason)
    assert got is not None, f"no failure counter for {target}/{reason}"
    return got


def polls(m: Samples, target: str) -> float:
    return value(m, "powerstrip_exporter_target_polls_total", source="dli", target=target) or 0.0


def successes(m: Samples, target: str) -> float:
    failed = sum(v for _, v in find(m, "powerstrip_exporter_target_poll_failures_total", source="dli", target=target))
    return polls(m, target) - failed


def up(m: Samples, target: str) -> float | None:
    return value(m, "powerstrip_exporter_target_up", source="dli", target=target)


async def test_faults_wrong_password_and_recovery(fleet: Fleet) -> None:
    exp = fleet.exp
    m = await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="dli", target="victim")
    await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="dli", target="bystander")
    # device series arrive with the exporter's labels
    assert value(m, "dli_bus_voltage_volts", device="victim", bus="0") == 120.0

    # a wrongly configured password: digest auth fails, counted as auth, never shown
    m = await exp.wait_for_sample("powerstrip_exporter_target_up", 0, source="dli", target="badpw")
    await exp.wait_for(lambda: _failed(exp, "badpw", "auth", 0.0), what="badpw auth failures", timeout=20)
    assert fleet.badpw.stats.total == 0 and fleet.badpw.stats.challenges > 0

    for fault, reason in FAULTS:
        before = await exp.metrics()
        base_failures = failures(before, "victim", reason)
        bystander_ok = successes(before, "bystander")
        fleet.victim.set_faults(**fault)
        await exp.wait_for(
            lambda reason=reason, base=base_failures: _down_with(exp, "victim", reason, base),
            what=f"victim down with {reason} under {fault}",
            timeout=30,
        )
        # while the victim is down, the bystander keeps polling successfully (a success after the
        # fault was set, not a snapshot of up: an overloaded machine may time out any single poll)
        await exp.wait_for(
            lambda base=bystander_ok: _succeeded_since(exp, "bystander", base),
            what=f"bystander polling successfully under {fault}",
            timeout=30,
        )
        assert up(await exp.metrics(), "victim") == 0
        fleet.victim.clear_faults()
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="dli", target="victim", timeout=30)

    final = await exp.metrics()
    assert up(final, "bystander") == 1
    assert value(final, "dli_humidity_ratio", device="bystander", sensor="sensor.0") == 0.415
    calls = value(
        final,
        "powerstrip_exporter_api_request_duration_seconds_count",
        source="dli",
        endpoint="GET /restapi/relay/outlets/",
    )
    assert calls is not None and calls > 0
    await _assert_no_secrets(exp)


async def test_locked_outlets_do_not_fail_polls(fleet: Fleet) -> None:
    exp = fleet.exp
    await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="dli", target="victim")
    fleet.victim.set_faults(locked_outlets=[2, 5])
    m = await exp.wait_for_sample("dli_outlet_locked", 1, device="victim", outlet="5")
    assert value(m, "dli_outlet_locked", device="victim", outlet="2") == 1
    assert value(m, "dli_outlet_locked", device="victim", outlet="0") == 0
    assert up(m, "victim") == 1
    await _assert_no_secrets(exp)


async def test_meter_403_keeps_the_outlets_and_shows_meters_not_permitted(fleet: Fleet) -> None:
    """An account without meter rights (403 on meter/values/ only) loses its meters, not its outlets."""
    exp = fleet.exp
    m = await exp.wait_for_sample("dli_meters_permitted", 1, device="victim")
    assert value(m, "dli_bus_voltage_volts", device="victim", bus="0") == 120.0
    auth_before = failures(m, "victim", "auth")
    fleet.victim.set_faults(http_status=403, path_prefix="meter/")
    m = await exp.wait_for_sample("dli_meters_permitted", 0, device="victim")
    assert up(m, "victim") == 1
    assert value(m, "dli_outlet_state", device="victim", outlet="0") is not None
    assert value(m, "dli_bus_voltage_volts", device="victim", bus="0") is None
    assert not [s for s in m if s[0] == "dli_meter_info" and ("device", "victim") in s[1]]
    # several more polls while refused: still up, no failure counted, one log line for the change
    base = polls(m, "victim")
    await exp.wait_for(lambda: _polled_since(exp, "victim", base + 2), what="victim polls while refused")
    m = await exp.metrics()
    assert up(m, "victim") == 1 and failures(m, "victim", "auth") == auth_before
    assert value(m, "dli_meters_permitted", device="victim") == 0
    assert value(m, "dli_meters_permitted", device="bystander") == 1
    assert exp.logs().count("meters not permitted") == 1
    fleet.victim.clear_faults()
    m = await exp.wait_for_sample("dli_meters_permitted", 1, device="victim")
    await exp.wait_for_sample("dli_bus_voltage_volts", 120.0, device="victim", bus="0")
    assert exp.logs().count("meters readable again") == 1
    assert "Traceback" not in exp.logs()
    await _assert_no_secrets(exp)


async def _failed(exp: ExporterProcess, target: str, reason: str, base: float) -> bool:
    return failures(await exp.metrics(), target, reason) > base


async def _succeeded_since(exp: ExporterProcess, target: str, base: float) -> bool:
    return successes(await exp.metrics(), target) > base


async def _polled_since(exp: ExporterProcess, target: str, base: float) -> bool:
    return polls(await exp.metrics(), target) > base


async def _down_with(exp: ExporterProcess, target: str, reason: str, base: float) -> bool:
    m = await exp.metrics()
    return up(m, target) == 0 and failures(m, target, reason) > base


async def _assert_no_secrets(exp: ExporterProcess) -> None:
    pages = [exp.logs()]
    for path in ("/metrics", "/", "/config"):
        status, text = await exp.get(path)
        assert status == 200, path
        pages.append(text)
    for page in pages:
        for secret in SECRETS:
            assert secret not in page
    assert "<secret>" in pages[-1]  # /config shows the password keys, redacted
