"""Acting on outlets and ports, through the real exporter and simulators: a critical outlet needs a
confirmation, the cooldown is kept per outlet or port, and every refusal is audited with the dry_run
that was asked for.

The DLI simulator marks outlet 0 critical, as a Pro does out of the box.
"""

from __future__ import annotations

import shlex

from tests.actions.conftest import ADMIN, STRIP, Rig, body, call, ct_calls, dli_writes
from tests.support.process import value

CRITICAL = "/api/v1/dli/pro/outlets/0/cycle"


def audit(rig: Rig) -> list[dict[str, str]]:
    return [
        dict(part.partition("=")[::2] for part in shlex.split(line))
        for line in rig.exporter.logs().splitlines()
        if " msg=action " in line
    ]


async def test_a_critical_outlet_is_switched_only_with_a_confirmation(rig: Rig) -> None:
    detail = "outlet 0 of pro is marked critical; to cycle outlet 0 of pro anyway, add ?confirm=critical"
    for query in ("", "?dry_run=true"):
        status, data, _ = await call(rig, CRITICAL + query)
        assert (status, data) == (409, body(False, "dli.outlet_cycle", "pro", detail)), query
    status, data, _ = await call(rig, CRITICAL + "?confirm=yes")
    assert (status, data["detail"]) == (400, "confirm: the only accepted value is critical")
    assert dli_writes(rig) == {}, "nothing reached the device"
    status, data, _ = await call(rig, CRITICAL + "?confirm=critical")
    assert (status, data) == (200, body(True, "dli.outlet_cycle", "pro", "outlet 0 of pro is cycling", 204))
    assert dli_writes(rig) == {"POST /restapi/relay/outlets/0/cycle/": 1}
    lines = [line for line in audit(rig) if line["action"] == "dli.outlet_cycle"]
    assert [(line["decision"], line["status"], line.get("confirmed")) for line in lines] == [
        ("unconfirmed", "409", None),
        ("unconfirmed", "409", None),
        ("invalid", "400", None),
        ("allowed", "200", "critical"),
    ]
    m = await rig.exporter.metrics()
    failures = "powerstrip_exporter_action_failures_total"
    assert value(m, failures, source="dli", action="outlet_cycle", reason="unconfirmed") == 2
    status, _, _ = await call(rig, "/api/v1/dli/pro/outlets/1/cycle?confirm=critical")
    assert status == 200, "a confirmation on an outlet that needs none changes nothing"


async def test_the_cooldown_is_per_outlet_and_a_reboot_waits_for_every_outlet(rig: Rig) -> None:
    for outlet in (1, 3):  # two outlets the simulated unit has switched on
        status, data, _ = await call(rig, f"/api/v1/dli/pro/outlets/{outlet}/cycle")
        assert status == 200, data
    status, data, headers = await call(rig, "/api/v1/dli/pro/outlets/1/cycle")
    assert (status, data["detail"][:36]) == (429, "cycle outlet 1 of pro: cooling down;")
    assert int(headers["Retry-After"]) > 3500
    status, data, _ = await call(rig, "/api/v1/dli/pro/reboot")
    assert (status, data["detail"][:24]) == (429, "reboot pro: cooling down")
    assert dli_writes(rig) == {"POST /restapi/relay/outlets/1/cycle/": 1, "POST /restapi/relay/outlets/3/cycle/": 1}
    for port in (4, 5):
        status, data, _ = await call(rig, f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/{port}/reset")
        assert status == 200, data
    assert (await call(rig, f"/api/v1/cloudtrax/powerstrips/{STRIP}/reboot"))[0] == 429
    assert ct_calls(rig) == {"GET /powerstrip/{powerstrip_id}/port/{port_id}/reset": 2}


async def test_refusals_are_audited_with_the_dry_run_asked_for(rig: Rig) -> None:
    assert (await call(rig, "/api/v1/dli/pro/reboot?dry_run=true", token=None))[0] == 401
    assert (await call(rig, "/api/v1/dli/nope/reboot?dry_run=true", ADMIN))[0] == 404
    assert (await call(rig, CRITICAL + "?dry_run=true"))[0] == 409
    assert (await call(rig, "/api/v1/dli/pro/reboot?dry_run=perhaps"))[0] == 400
    assert (await call(rig, "/api/v1/dli/pro/reboot?dry_run=false"))[0] == 200
    lines = audit(rig)
    assert [(line["decision"], line["dry_run"]) for line in lines] == [
        ("unauthenticated", "true"),
        ("not_found", "true"),
        ("unconfirmed", "true"),
        ("invalid", ""),
        ("allowed", "false"),
    ]
    assert [line["target"] for line in lines] == ["pro", "", "pro", "pro", "pro"], "only known names are named"
    assert dli_writes(rig) == {"POST /restapi/system/reboot/": 1}
