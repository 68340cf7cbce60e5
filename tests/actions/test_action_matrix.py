"""The action matrix against the real exporter and real simulators.

Each case asserts the status, the whole JSON body, and whether the simulator saw an upstream call.
"""

from __future__ import annotations

import pytest

from tests.actions.conftest import (
    ADMIN,
    DLI_PASSWORD,
    EXPIRED,
    KEY,
    NARROW,
    NETWORK,
    SECRET,
    STRIP,
    Rig,
    body,
    call,
    ct_calls,
    dli_writes,
)
from tests.support.process import value

CT_REBOOT = f"/api/v1/cloudtrax/powerstrips/{STRIP}/reboot"
CT_RESET = f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/4/reset"
DLI_CYCLE = "/api/v1/dli/pro/outlets/1/cycle"
DLI_REBOOT = "/api/v1/dli/pro/reboot"


@pytest.mark.parametrize(
    "token,headers,detail",
    [
        (None, {}, "missing bearer token"),
        (None, {"Authorization": "Token abc"}, "malformed Authorization header; expected 'Bearer <token>'"),
        ("not-the-right-token", {}, "invalid token"),
        (EXPIRED, {}, "token 'expired' expired"),
    ],
    ids=["no token", "malformed header", "wrong token", "expired token file"],
)
async def test_unauthenticated_requests_reach_nothing(
    rig: Rig, token: str | None, headers: dict[str, str], detail: str
) -> None:
    for path, action in (
        (CT_REBOOT, "cloudtrax.reboot"),
        (CT_RESET, "cloudtrax.port_reset"),
        (DLI_CYCLE, "dli.outlet_cycle"),
        (DLI_REBOOT, "dli.reboot"),
    ):
        status, data, resp_headers = await call(rig, path, token, **headers)
        assert (status, data) == (401, body(False, action, None, detail)), "no target is named to a stranger"
        assert resp_headers["WWW-Authenticate"].startswith("Bearer")
    assert ct_calls(rig) == {} and dli_writes(rig) == {}


async def test_token_without_scope_is_forbidden(rig: Rig) -> None:
    status, data, _ = await call(rig, CT_REBOOT, NARROW)
    detail = "token 'narrow' may not cloudtrax.reboot on this target"
    assert (status, data) == (403, body(False, "cloudtrax.reboot", None, detail))
    status, data, _ = await call(rig, DLI_REBOOT, NARROW)
    assert (status, data) == (403, body(False, "dli.reboot", None, "token 'narrow' may not dli.reboot on this target"))
    assert ct_calls(rig) == {} and dli_writes(rig) == {}
    status, _, _ = await call(rig, DLI_CYCLE, NARROW)
    assert status == 200, "the narrow token's one allowed action"
    assert dli_writes(rig) == {"POST /restapi/relay/outlets/1/cycle/": 1}


async def test_each_action_allowed_reaches_the_simulator_once(rig: Rig) -> None:
    status, data, _ = await call(rig, CT_RESET)
    assert (status, data) == (200, body(True, "cloudtrax.port_reset", "1", "port 4 of power strip 1 is resetting", 200))
    status, data, _ = await call(rig, DLI_CYCLE)
    assert (status, data) == (200, body(True, "dli.outlet_cycle", "pro", "outlet 1 of pro is cycling", 204))
    # A reboot switches every outlet or port: it waits while one of them cools down.
    status, data, _ = await call(rig, CT_REBOOT)
    assert (status, data["detail"][:37]) == (429, "reboot power strip 1 in network 12345")
    status, data, _ = await call(rig, DLI_REBOOT)
    assert (status, data["detail"][:24]) == (429, "reboot pro: cooling down")
    assert ct_calls(rig) == {"GET /powerstrip/{powerstrip_id}/port/{port_id}/reset": 1}
    assert dli_writes(rig) == {"POST /restapi/relay/outlets/1/cycle/": 1}
    m = await rig.exporter.metrics()
    for source, action in (
        ("cloudtrax", "reboot"),
        ("cloudtrax", "port_reset"),
        ("dli", "outlet_cycle"),
        ("dli", "reboot"),
    ):
        assert value(m, "powerstrip_exporter_actions_total", source=source, action=action) == 1


async def test_each_reboot_allowed_reaches_the_simulator_once(rig: Rig) -> None:
    status, data, _ = await call(rig, CT_REBOOT)
    assert (status, data) == (
        200,
        body(True, "cloudtrax.reboot", "1", f"power strip 1 (network {NETWORK}) is rebooting", 200),
    )
    status, data, _ = await call(rig, DLI_REBOOT)
    assert (status, data) == (200, body(True, "dli.reboot", "pro", "pro is rebooting", 204))
    assert ct_calls(rig) == {"GET /powerstrip/{powerstrip_id}/reboot": 1}
    assert dli_writes(rig) == {"POST /restapi/system/reboot/": 1}


async def test_unknown_target_and_bad_port(rig: Rig) -> None:
    cases = [
        (
            "/api/v1/cloudtrax/powerstrips/999999/reboot",
            404,
            "cloudtrax.reboot",
            None,
            "no such power strip is in the latest snapshot",
        ),
        (
            f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/9/reset",
            404,
            "cloudtrax.port_reset",
            "1",
            "power strip 1 has no port 9",
        ),
        (
            f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/x/reset",
            400,
            "cloudtrax.port_reset",
            None,
            "port: expected an integer",
        ),
        (
            f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/0/reset",
            400,
            "cloudtrax.port_reset",
            None,
            "port: must be >= 1",
        ),
        (
            "/api/v1/cloudtrax/powerstrips/abc/reboot",
            400,
            "cloudtrax.reboot",
            None,
            "powerstrip_id: expected an integer",
        ),
        ("/api/v1/dli/nope/reboot", 404, "dli.reboot", None, "no such device is configured"),
        ("/api/v1/dli/pro/outlets/8/cycle", 404, "dli.outlet_cycle", "pro", "device 'pro' has no outlet 8"),
        ("/api/v1/dli/pro/outlets/-1/cycle", 400, "dli.outlet_cycle", None, "outlet: must be >= 0"),
    ]
    for path, status, action, target, detail in cases:
        got, data, _ = await call(rig, path)
        assert (got, data) == (status, body(False, action, target, detail)), path
    assert ct_calls(rig) == {} and dli_writes(rig) == {}


async def test_cooldown(rig: Rig) -> None:
    assert (await call(rig, CT_RESET))[0] == 200
    status, data, headers = await call(rig, CT_RESET)
    assert status == 429 and data["ok"] is False and "cooling down" in data["detail"]
    assert int(headers["Retry-After"]) > 3500
    status, data, _ = await call(rig, "/api/v1/cloudtrax/powerstrips/0001/ports/4/reset")
    assert (status, data["target"]) == (429, "1"), "a zero-padded id is the same strip"
    assert ct_calls(rig) == {"GET /powerstrip/{powerstrip_id}/port/{port_id}/reset": 1}


async def test_dry_run_calls_nothing(rig: Rig) -> None:
    status, data, _ = await call(rig, CT_RESET + "?dry_run=true")
    assert (status, data) == (
        200,
        body(True, "cloudtrax.port_reset", "1", f"dry run: would reset port 4 of power strip 1 in network {NETWORK}"),
    )
    status, data, _ = await call(rig, DLI_CYCLE + "?dry_run=true")
    assert (status, data) == (200, body(True, "dli.outlet_cycle", "pro", "dry run: would cycle outlet 1 of pro"))
    assert ct_calls(rig) == {} and dli_writes(rig) == {}


async def test_upstream_5xx_is_502(rig: Rig) -> None:
    rig.cloudtrax.set_fault("http_5xx", powerstrip_id=STRIP, status=500)
    status, data, _ = await call(rig, CT_REBOOT)
    assert status == 502 and data["ok"] is False and data["upstream_status"] == 500
    assert data["target"] == "1" and data["action"] == "cloudtrax.reboot"
    assert data["detail"] == "GET /powerstrip/1/reboot: HTTP 500: CloudTrax error 1016 'Internal error.' (server)"
    rig.cloudtrax.clear_faults(powerstrip_id=STRIP)
    rig.dli.set_faults(http_status=503, path_prefix="relay/outlets/1/cycle")
    status, data, _ = await call(rig, DLI_CYCLE)
    assert status == 502 and data["upstream_status"] == 503 and data["ok"] is False
    rig.dli.clear_faults()


async def test_upstream_timeout_is_504(rig: Rig) -> None:
    rig.cloudtrax.set_fault("latency", powerstrip_id=STRIP, seconds=3.0)
    status, data, _ = await call(rig, CT_RESET)
    assert (status, data["ok"], data["upstream_status"], data["target"]) == (504, False, None, "1")
    # Whichever limit fires first: the client's own request timeout or the action timeout.
    assert data["detail"] in ("GET /powerstrip/1/port/4/reset: timed out", "upstream did not answer within 1s")
    rig.cloudtrax.clear_faults(powerstrip_id=STRIP)
    rig.dli.set_faults(latency=3.0, path_prefix="system/reboot")
    status, data, _ = await call(rig, DLI_REBOOT)
    assert (status, data["ok"], data["upstream_status"], data["target"]) == (504, False, None, "pro")
    rig.dli.clear_faults()
    m = await rig.exporter.metrics()
    assert value(m, "powerstrip_exporter_action_failures_total", source="dli", action="reboot", reason="timeout") == 1


async def test_no_secret_in_logs(rig: Rig) -> None:
    await call(rig, CT_REBOOT)
    await call(rig, CT_REBOOT, "guess-" + ADMIN)
    logs = rig.exporter.logs()
    assert "msg=action" in logs and "token=admin" in logs
    for secret in (ADMIN, NARROW, EXPIRED, KEY, SECRET, DLI_PASSWORD):
        assert secret not in logs, secret
