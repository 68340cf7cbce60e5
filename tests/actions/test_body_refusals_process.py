"""Every documented refusal of the action API, through the real exporter's threaded listener.

The listener runs on the web thread and hands action handlers to the main loop; the body checks
must hold across that hop, on the main listener and on `--web.actions-listen-address` alike. Each
refusal is checked three ways: the answer (status and JSON), the simulators (no write reached a
device or the cloud), and the audit line (decision, status and, once authenticated, the token name).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DliSimulator
from tests.actions.conftest import ADMIN, KEY, NARROW, NETWORK, SECRET, STRIP, ct_calls, dli_writes, exporter_config
from tests.support.process import ExporterProcess, free_port
from tests.support.rawhttp import RawAnswer, chunked, exchange, request

DLI_CYCLE = "/api/v1/dli/pro/outlets/1/cycle"
CT_RESET = f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/4/reset"
BODY_TIMEOUT = 1.0


@dataclass
class Listener:
    exporter: ExporterProcess
    port: int
    cloudtrax: CloudTraxSimulator
    dli: DliSimulator

    def audit(self) -> list[dict[str, str]]:
        """The `action` audit events logged so far, as key/value maps."""
        events = []
        for line in self.exporter.logs().splitlines():
            if "msg=action " not in line:
                continue
            fields = dict(part.partition("=")[::2] for part in shlex.split(line))
            events.append(fields)
        return events

    def reached_nothing(self) -> None:
        assert ct_calls(self) == {} and dli_writes(self) == {}, "a refused request reached a device"


@pytest.fixture(params=["main listener", "actions listener"])
async def listener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Listener]:
    actions_port = free_port()
    args = ["--web.read-body-timeout", f"{BODY_TIMEOUT:g}s"]
    if request.param == "actions listener":
        args += ["--web.actions-listen-address", f"127.0.0.1:{actions_port}"]
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=2, networks=1) as ct,
        DliSimulator("pro", cycle_delay=0.2, password="dli-pass-7q2w") as dli,
        ExporterProcess(tmp_path, exporter_config(ct, dli, tmp_path), args=args) as exp,
    ):
        await exp.wait_for_sample(
            "cloudtrax_powerstrip_port_info", None, network_id=str(NETWORK), powerstrip_id=str(STRIP), port="4"
        )
        await exp.wait_for_sample("dli_outlet_info", None, device="pro", outlet="1")
        port = actions_port if request.param == "actions listener" else exp.port
        yield Listener(exp, port, ct, dli)


def auth(token: str = ADMIN, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Connection": "close", **extra}


def last_audit(lst: Listener, status: int) -> dict[str, str]:
    events = [e for e in lst.audit() if e.get("status") == str(status)]
    assert events, f"no audit line with status {status}:\n{lst.exporter.logs()[-3000:]}"
    return events[-1]


async def send(lst: Listener, data: bytes) -> RawAnswer:
    return await exchange(lst.port, data, deadline=20)


@pytest.mark.parametrize(
    "content_type,body,status,detail",
    [
        ("text/plain", b"cycle please", 415, "unsupported content type; send application/json or no body"),
        ("application/x-www-form-urlencoded", b"a=b", 415, None),
        ("application/json", b'{"outlet": 3}', 400, "request body must be empty or {}"),
        ("application/json", b"[]", 400, "request body must be empty or {}"),
        ("application/json", b"{not json", 400, "request body is not valid JSON"),
    ],
    ids=["text/plain", "form", "json object", "json array", "broken json"],
)
async def test_body_refusals_hold_through_the_listener(
    listener: Listener, content_type: str, body: bytes, status: int, detail: str | None
) -> None:
    for path, action in ((DLI_CYCLE, "dli.outlet_cycle"), (CT_RESET, "cloudtrax.port_reset")):
        answer = await send(listener, request("POST", path, headers=auth(**{"Content-Type": content_type}), body=body))
        assert answer.status == status, answer
        data = answer.json()
        assert data["ok"] is False and data["action"] == action
        if detail is not None:
            assert data["detail"] == detail
        line = last_audit(listener, status)
        assert (line["action"], line["decision"], line["token"]) == (action, "invalid", "admin")
    listener.reached_nothing()


async def test_chunked_body_over_the_limit_is_413_and_reaches_nothing(listener: Listener) -> None:
    """A 60 KB chunked `{}`-padded body once performed a real reset: the stream looked empty."""
    payload = b"{" + b" " * 60_000 + b"}"
    headers = auth(**{"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    for path in (CT_RESET, DLI_CYCLE):
        answer = await send(listener, request("POST", path, headers=headers) + chunked(payload))
        assert answer.status == 413, answer
        assert answer.json()["detail"] == "request body too large (limit 1024 bytes)"
        assert last_audit(listener, 413)["token"] == "admin"
    listener.reached_nothing()


async def test_declared_length_over_the_limit_is_413_at_once(listener: Listener) -> None:
    """A large Content-Length with a short body used to get no answer at all."""
    head = request("POST", CT_RESET, headers=auth(**{"Content-Type": "application/json", "Content-Length": "100000"}))
    answer = await exchange(listener.port, head + b"{}", deadline=20)
    assert answer.status == 413, answer
    assert answer.seconds < BODY_TIMEOUT * 5, "answered before any body was awaited"
    listener.reached_nothing()


async def test_short_body_gets_408_within_the_body_timeout(listener: Listener) -> None:
    """Content-Length promises 500 bytes, 2 arrive, the client stalls: 408, not a hang."""
    headers = auth(**{"Content-Type": "application/json", "Content-Length": "500"})
    answer = await exchange(listener.port, request("POST", DLI_CYCLE, headers=headers) + b"{}", deadline=30)
    assert answer.status == 408, answer
    assert answer.json()["detail"] == "the request body did not arrive in time"
    assert answer.seconds < BODY_TIMEOUT + 10, answer.seconds
    assert last_audit(listener, 408)["token"] == "admin"
    listener.reached_nothing()


async def test_other_refusals_through_the_listener(listener: Listener) -> None:
    # 401 without a token, before the body matters.
    answer = await send(listener, request("POST", DLI_CYCLE, headers={"Connection": "close"}))
    assert answer.status == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    # 403: authenticated but not allowed; the audit names the token.
    answer = await send(listener, request("POST", CT_RESET, headers=auth(NARROW)))
    assert answer.status == 403, answer
    assert (last_audit(listener, 403)["token"], last_audit(listener, 403)["decision"]) == ("narrow", "forbidden")
    # 400: a parameter out of range, and an unknown query parameter; both audited with the token.
    answer = await send(listener, request("POST", "/api/v1/dli/pro/outlets/-1/cycle", headers=auth()))
    assert answer.status == 400, answer
    assert last_audit(listener, 400)["token"] == "admin"
    answer = await send(listener, request("POST", DLI_CYCLE + "?force=1", headers=auth()))
    unknown = "unknown query parameter; only dry_run and confirm are accepted"
    assert (answer.status, answer.json()["detail"]) == (400, unknown)
    # 404: a device that is not in the latest poll.
    answer = await send(listener, request("POST", "/api/v1/dli/nosuch/outlets/1/cycle", headers=auth()))
    assert answer.status == 404, answer
    # 405: any other method, audited though nobody authenticated.
    answer = await send(listener, request("GET", DLI_CYCLE, headers=auth()))
    assert (answer.status, answer.headers["allow"]) == (405, "POST")
    line = last_audit(listener, 405)
    assert (line["action"], line["decision"], line["detail"]) == (
        "dli.outlet_cycle",
        "invalid",
        "method not allowed; use POST",
    )
    listener.reached_nothing()
    # The control: the same listener does act on a clean request, with `{}` as the body.
    headers = auth(**{"Content-Type": "application/json"})
    answer = await send(listener, request("POST", DLI_CYCLE, headers=headers, body=b"{}"))
    assert answer.status == 200, answer
    assert dli_writes(listener) == {"POST /restapi/relay/outlets/1/cycle/": 1}


async def test_brute_force_limit_through_the_listener(tmp_path: Path) -> None:
    """429 after too many failed logins, and 403 when actions are disabled, on the real process."""
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=2, networks=1) as ct,
        DliSimulator("pro", cycle_delay=0.2, password="dli-pass-7q2w") as dli,
    ):
        config = yaml.safe_load(exporter_config(ct, dli, tmp_path))
        config["actions"]["auth_failures"] = {"max_failures": 2, "window": "10m"}
        async with ExporterProcess(tmp_path, yaml.safe_dump(config)) as exp:
            statuses = []
            for _ in range(3):
                answer = await exchange(exp.port, request("POST", DLI_CYCLE, headers=auth("wrong-token-123456")))
                statuses.append(answer.status)
            assert statuses == [401, 401, 429]
            answer = await exchange(exp.port, request("POST", DLI_CYCLE, headers=auth()))
            assert answer.status == 429 and "retry-after" in answer.headers
        del config["actions"]["tokens"]
        async with ExporterProcess(tmp_path, json.dumps(config)) as exp:
            answer = await exchange(exp.port, request("POST", DLI_CYCLE, headers=auth()))
            assert answer.status == 403 and "actions are disabled" in answer.json()["detail"]
        assert dli.stats.requests.get("POST /restapi/relay/outlets/1/cycle/") is None
        assert not [k for k in ct.request_counts() if k.endswith("/reset") or k.endswith("/reboot")]
