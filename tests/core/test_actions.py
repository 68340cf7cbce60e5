"""The action pipeline against the fake source: every refusal happens before any upstream call."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.sources.action_api import upstream_failed
from tests.core.conftest import LiveDaemon, eventually
from tests.core.fake_source import ACTION_CALLS, ACTION_SCRIPT, script
from tests.support.process import value

Live = Callable[[str], Awaitable[LiveDaemon]]

OPS = "ops-token-0123456789"
NARROW = "narrow-token-abcdef"


def config(tmp_path: Path, cooldown: str = "1h", extra_tokens: str = "") -> str:
    (tmp_path / "old-token").write_text("old-token-value-2019\n")
    return f"""\
global: {{interval: 50ms, timeout: 50ms, jitter: 0}}
targets:
- {{source: fake, name: a, devices: 2, ports: 4}}
actions:
  cooldown: {cooldown}
  timeout: 300ms
  auth_failures: {{max_failures: 3, window: 1m}}
  tokens:
  - name: ops
    token_sha256: {hashlib.sha256(OPS.encode()).hexdigest()}
    allow: [{{actions: ["*"], targets: ["*"]}}]
  - name: narrow
    token: {NARROW}
    allow: [{{actions: [fake.reboot], targets: [a-d0]}}]
  - name: old
    token_file: {tmp_path / "old-token"}
    expires: 2020-01-01T00:00:00Z
    allow: [{{actions: ["*"], targets: ["*"]}}]
{extra_tokens}"""


async def call(
    d: LiveDaemon, path: str, token: str | None = OPS, method: str = "POST", **kw: Any
) -> tuple[int, dict[str, Any], Any]:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with d.session.request(method, d.url + path, headers=headers, **kw) as resp:
        return resp.status, await resp.json(), resp.headers


async def started(live: Live, tmp_path: Path, **kw: str) -> LiveDaemon:
    d = await live(config(tmp_path, **kw))
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    return d


def body(ok: bool, action: str, target: str | None, detail: str, upstream: int | None = None) -> dict[str, Any]:
    return {"ok": ok, "action": action, "target": target, "detail": detail, "upstream_status": upstream}


async def test_allowed_action_calls_upstream_once(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, "/api/v1/fake/a-d1/ports/3/reset")
    assert status == 200
    assert data == body(True, "fake.port_reset", "a-d1", "port_reset sent to a-d1", 200)
    assert ACTION_CALLS == [("port_reset", "a-d1", 3)]
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_actions_total", source="fake", action="port_reset") == 1
    assert (
        value(m, "powerstrip_exporter_action_failures_total", source="fake", action="port_reset", reason="upstream")
        == 0
    )


@pytest.mark.parametrize(
    "token,headers,status,detail",
    [
        (None, {}, 401, "missing bearer token"),
        (None, {"Authorization": "Basic b3BzOnB3"}, 401, "malformed Authorization header; expected 'Bearer <token>'"),
        (None, {"Authorization": "Bearer"}, 401, "malformed Authorization header; expected 'Bearer <token>'"),
        ("wrong-token", {}, 401, "invalid token"),
        ("old-token-value-2019", {}, 401, "token 'old' expired"),
    ],
    ids=["no token", "basic scheme", "empty bearer", "wrong token", "expired token file"],
)
async def test_unauthenticated(
    live: Live, tmp_path: Path, token: str | None, headers: dict[str, str], status: int, detail: str
) -> None:
    d = await started(live, tmp_path)
    got, data, resp_headers = await call(d, "/api/v1/fake/a-d0/reboot", token=token, headers=headers)
    assert (got, data) == (status, body(False, "fake.reboot", None, detail)), "no name before authorization"
    assert resp_headers["WWW-Authenticate"] == 'Bearer realm="powerstrip-exporter"'
    assert ACTION_CALLS == []
    m = await d.metrics()
    assert (
        value(m, "powerstrip_exporter_action_failures_total", source="fake", action="reboot", reason="unauthenticated")
        == 1
    )


async def test_token_outside_its_rules_is_forbidden(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, "/api/v1/fake/a-d1/reboot", token=NARROW)
    assert (status, data) == (
        403,
        body(False, "fake.reboot", None, "token 'narrow' may not fake.reboot on this target"),
    )
    status, data, _ = await call(d, "/api/v1/fake/a-d0/ports/0/reset", token=NARROW)
    assert status == 403
    status, _, _ = await call(d, "/api/v1/fake/a-d0/reboot", token=NARROW)
    assert status == 200
    assert ACTION_CALLS == [("reboot", "a-d0", None)]


async def test_forbidden_does_not_reveal_whether_a_target_exists(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, _, _ = await call(d, "/api/v1/fake/nope/reboot", token=NARROW)
    assert status == 403


async def test_unknown_target_and_port(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, "/api/v1/fake/zzz/reboot")
    assert (status, data) == (404, body(False, "fake.reboot", None, "the device is not in the latest snapshot"))
    status, data, _ = await call(d, "/api/v1/fake/a-d0/ports/7/reset")
    assert (status, data["detail"]) == (404, "device 'a-d0' has no port 7")
    assert ACTION_CALLS == []


@pytest.mark.parametrize(
    "port,detail",
    [
        ("x", "port: expected an integer"),
        ("99", "port: must be <= 63"),
        ("-1", "port: must be >= 0"),
    ],
)
async def test_invalid_port_is_rejected_before_lookup(live: Live, tmp_path: Path, port: str, detail: str) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, f"/api/v1/fake/a-d0/ports/{port}/reset")
    assert (status, data["detail"], data["ok"]) == (400, detail, False)
    assert ACTION_CALLS == []


async def test_cooldown_answers_429_with_retry_after(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    assert (await call(d, "/api/v1/fake/a-d0/reboot"))[0] == 200
    status, data, headers = await call(d, "/api/v1/fake/a-d0/reboot")
    assert status == 429 and data["detail"].startswith("reboot a-d0: cooling down; retry in")
    assert 3590 <= int(headers["Retry-After"]) <= 3600
    assert (await call(d, "/api/v1/fake/a-d1/reboot"))[0] == 200, "cooldown is per target"
    assert len(ACTION_CALLS) == 2


async def test_dry_run_validates_and_calls_nothing(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, "/api/v1/fake/a-d0/ports/2/reset?dry_run=true")
    assert (status, data) == (200, body(True, "fake.port_reset", "a-d0", "dry run: would reset port 2 of a-d0"))
    assert ACTION_CALLS == []
    assert (await call(d, "/api/v1/fake/a-d0/ports/2/reset"))[0] == 200, "a dry run does not start the cooldown"
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot?dry_run=maybe")
    assert (status, data["detail"]) == (400, "dry_run: expected true or false")


async def test_upstream_failure_is_502_and_timeout_504(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path, cooldown="1ms")
    ACTION_SCRIPT.error = upstream_failed("device answered 500: internal error", 500)
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot")
    assert (status, data) == (502, body(False, "fake.reboot", "a-d0", "device answered 500: internal error", 500))
    ACTION_SCRIPT.error = None
    ACTION_SCRIPT.hang = True
    status, data, _ = await call(d, "/api/v1/fake/a-d1/reboot")
    assert (status, data) == (504, body(False, "fake.reboot", "a-d1", "upstream did not answer within 0.3s"))
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_action_failures_total", source="fake", action="reboot", reason="upstream") == 1
    assert value(m, "powerstrip_exporter_action_failures_total", source="fake", action="reboot", reason="timeout") == 1


async def test_get_is_405_in_the_same_json_shape(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, headers = await call(d, "/api/v1/fake/a-d0/reboot", method="GET")
    assert status == 405 and headers["Allow"] == "POST"
    assert data == body(False, "fake.reboot", None, "method not allowed; use POST")


async def test_request_hygiene(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", data="x" * 2000)
    assert (status, data["detail"]) == (413, "request body too large (limit 1024 bytes)")
    status, data, _ = await call(
        d, "/api/v1/fake/a-d0/reboot?dry_run=1", data="a=b", headers={"Content-Type": "text/plain"}
    )
    assert (status, data["detail"]) == (415, "unsupported content type; send application/json or no body")
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", json={"force": True})
    assert (status, data["detail"]) == (400, "request body must be empty or {}")
    status, _, _ = await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", json={})
    assert status == 200
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot?force=1")
    assert (status, data["detail"]) == (400, "unknown query parameter; only dry_run and confirm are accepted")
    assert ACTION_CALLS == []


async def test_repeated_auth_failures_are_rate_limited(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    for _ in range(3):
        assert (await call(d, "/api/v1/fake/a-d0/reboot", token="guess"))[0] == 401
    status, data, headers = await call(d, "/api/v1/fake/a-d0/reboot")
    assert status == 429, "even the right token waits once the client is blocked"
    assert data["detail"] == "too many failed authentication attempts; try again later"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert ACTION_CALLS == []


async def test_no_tokens_means_actions_disabled(live: Live) -> None:
    d = await live("targets: [{source: fake, name: a}]\n")
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot")
    assert (status, data) == (
        403,
        body(False, "fake.reboot", None, "actions are disabled: no tokens are configured under actions.tokens"),
    )


async def test_openapi_document_lists_exactly_the_routes(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    async with d.session.get(d.url + "/api/v1/openapi.json") as resp:
        doc = json.loads(await resp.text())
    assert doc["openapi"].startswith("3.")
    assert sorted(doc["paths"]) == ["/api/v1/fake/{device}/ports/{port}/reset", "/api/v1/fake/{device}/reboot"]
    post = doc["paths"]["/api/v1/fake/{device}/reboot"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"200", "401", "403", "404", "429", "502", "504"} <= set(post["responses"])


async def test_tokens_never_logged(live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = await started(live, tmp_path)
    await call(d, "/api/v1/fake/a-d0/reboot")
    await call(d, "/api/v1/fake/a-d0/reboot", token="wrong-guess-secret")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "decision=allowed" in text and "token=ops" in text, "one audit event per attempt"
    assert "decision=unauthenticated" in text
    for secret in (OPS, NARROW, "old-token-value-2019", "wrong-guess-secret"):
        assert secret not in text


@pytest.mark.parametrize(
    "raw,detail",
    [
        ("--5", "port: expected an integer"),
        ("5-", "port: expected an integer"),
        ("\u0661", "port: expected an integer"),
    ],
)
async def test_odd_integers_are_invalid_not_errors(live: Live, tmp_path: Path, raw: str, detail: str) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(d, f"/api/v1/fake/a-d0/ports/{raw}/reset")
    assert (status, data["detail"]) == (400, detail)


async def test_deeply_nested_json_is_invalid_not_an_error(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, data, _ = await call(
        d, "/api/v1/fake/a-d0/reboot?dry_run=1", data="[" * 1000, headers={"Content-Type": "application/json"}
    )
    assert (status, data["detail"]) == (400, "request body is not valid JSON")


async def test_chunked_body_is_read_whole(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)

    async def chunks() -> Any:
        yield b"{}"
        yield b'{"evil": "x"}' + b" " * 2000

    status, data, _ = await call(
        d, "/api/v1/fake/a-d0/reboot?dry_run=1", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (status, data["detail"]) == (413, "request body too large (limit 1024 bytes)")


async def test_behind_a_trusted_proxy_each_client_has_its_own_failure_budget(live: Live, tmp_path: Path) -> None:
    text = config(tmp_path).replace("  auth_failures:", "  trusted_proxies: [127.0.0.0/8]\n  auth_failures:")
    d = await live(text)
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    mallory = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(3):
        assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", token="guess", headers=mallory))[0] == 401
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers=mallory))[0] == 429
    alice = {"X-Forwarded-For": "198.51.100.7"}  # another client through the same proxy is not locked out
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers=alice))[0] == 200
    # A forged hop left of the one the proxy appended changes nothing: Mallory is still Mallory.
    forged = {"X-Forwarded-For": "198.51.100.7, 203.0.113.66"}
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers=forged))[0] == 429


async def test_the_audit_log_names_the_client_and_the_proxy_that_vouched_for_it(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = await live(config(tmp_path).replace("  auth_failures:", "  trusted_proxies: [127.0.0.1/32]\n  auth_failures:"))
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    capsys.readouterr()
    headers = {"X-Forwarded-For": "::ffff:198.51.100.7"}  # as a dual-stack proxy writes an IPv4 client
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers=headers))[0] == 200
    out = capsys.readouterr()
    text = out.out + out.err
    assert "client=198.51.100.7" in text and "peer=127.0.0.1" in text


async def test_a_peer_outside_trusted_proxies_is_not_believed(live: Live, tmp_path: Path) -> None:
    d = await live(config(tmp_path).replace("  auth_failures:", "  trusted_proxies: [192.0.2.10/32]\n  auth_failures:"))
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    for i in range(3):  # the test client (127.0.0.1) is no listed proxy: its forged addresses count as itself
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", token="guess", headers=headers))[0] == 401
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers={"X-Forwarded-For": "203.0.113.9"}))[0] == 429


async def test_without_trusted_proxies_forwarded_for_is_ignored(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    for i in range(3):  # a new forged address each time does not buy new attempts
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", token="guess", headers=headers))[0] == 401
    headers = {"X-Forwarded-For": "203.0.113.99"}
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=1", headers=headers))[0] == 429


def test_client_address_believes_only_trusted_proxies() -> None:
    from ipaddress import ip_network

    from exporter.actions.auth import client_address

    proxies = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
    assert client_address("192.0.2.1", ["203.0.113.5"], proxies) == "192.0.2.1"  # not a proxy: header ignored
    assert client_address("10.0.0.2", ["203.0.113.5"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", [], proxies) == "10.0.0.2"  # the proxy's own request
    # Two proxies in a row: the rightmost address that is not a proxy is the client.
    assert client_address("10.0.0.2", ["198.51.100.1, 203.0.113.5, 10.0.0.9"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["198.51.100.1", "203.0.113.5"], proxies) == "203.0.113.5"  # two headers
    assert client_address("10.0.0.2", ["10.0.0.7, 10.0.0.9"], proxies) == "10.0.0.7"  # only proxies: the first
    assert client_address("fd00::1", ["2001:db8::5"], proxies) == "2001:db8::5"
    # A malformed hop where the client should be: the chain is not what the config says, use the proxy.
    assert client_address("10.0.0.2", ["203.0.113.5, not-an-ip"], proxies) == "10.0.0.2"
    assert client_address("10.0.0.2", ["garbage, 203.0.113.5"], proxies) == "203.0.113.5"  # left of it: ignored
    assert client_address(None, ["203.0.113.5"], proxies) == "unknown"
    # A malformed hop between the client and a second proxy: the chain is broken there too.
    assert client_address("10.0.0.2", ["203.0.113.5, garbage, 10.0.0.9"], proxies) == "10.0.0.2"
    # As proxies write addresses: with ports, bracketed, IPv4-mapped, spaced; zone ids are dropped.
    assert client_address("10.0.0.2", ["203.0.113.5:41000"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["[2001:db8::5]:443"], proxies) == "2001:db8::5"
    assert client_address("10.0.0.2", ["::ffff:203.0.113.5"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["203.0.113.5, ::ffff:10.0.0.9"], proxies) == "203.0.113.5"  # a mapped proxy
    assert client_address("10.0.0.2", ["fe80::1%eth0 decision=allowed"], proxies) == "fe80::1"  # not logged
    assert client_address("10.0.0.2", ["  203.0.113.5 ,, "], proxies) == "10.0.0.2"  # an empty hop last
    assert client_address("10.0.0.2", ["203.0.113.5 ,  10.0.0.9 "], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["203.0.113.5"], []) == "10.0.0.2"  # no proxies configured


async def test_config_endpoint_hides_token_digests(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    status, text, _ = await d.get("/config")
    assert status == 200
    assert hashlib.sha256(OPS.encode()).hexdigest() not in text
    assert "token_sha256: <secret>" in text


def test_client_key_groups_ipv6_per_64() -> None:
    from exporter.actions.auth import FailureLimiter, client_key

    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("192.0.2.7") == client_key("::ffff:192.0.2.7") == "192.0.2.7"  # not one shared "::/64"
    limiter = FailureLimiter(2, 60)
    limiter.record("2001:db8:1:2::1", now=0)
    limiter.record("2001:db8:1:2::99", now=1)
    assert limiter.retry_after("2001:db8:1:2::5", now=2) == 58
    assert limiter.retry_after("2001:db8:1:3::5", now=2) is None
    assert limiter.retry_after("2001:db8:1:2::5", now=61) is None


async def test_cooldown_is_per_port_and_a_whole_device_waits_for_its_ports(live: Live, tmp_path: Path) -> None:
    d = await started(live, tmp_path)
    assert (await call(d, "/api/v1/fake/a-d0/ports/2/reset"))[0] == 200
    assert (await call(d, "/api/v1/fake/a-d0/ports/3/reset"))[0] == 200, "another port of the same device"
    status, data, _ = await call(d, "/api/v1/fake/a-d0/ports/2/reset")
    assert (status, data["detail"][:34]) == (429, "reset port 2 of a-d0: cooling down")
    status, data, _ = await call(d, "/api/v1/fake/a-d0/reboot")
    assert status == 429, "a reboot would switch the ports that just reset"
    assert (await call(d, "/api/v1/fake/a-d1/reboot"))[0] == 200
    assert (await call(d, "/api/v1/fake/a-d1/ports/0/reset"))[0] == 429, "a port waits for its device's reboot"
    assert ACTION_CALLS == [("port_reset", "a-d0", 2), ("port_reset", "a-d0", 3), ("reboot", "a-d1", None)]
    spec = next(s for s in d.daemon.actions.specs if s.action == "port_reset")
    assert 3500 < d.daemon.actions.cooldown_remaining(spec, {"device": "a-d0", "port": 2}) <= 3600
    assert d.daemon.actions.cooldown_remaining(spec, {"device": "a-d0", "port": 1}) == 0


def test_cooldown_keys() -> None:
    from exporter.actions.auth import Cooldown

    cooldown = Cooldown(60)
    pdu, other = ("dli", "pdu"), ("dli", "other")
    cooldown.start(pdu, "outlet=1", now=0)
    assert cooldown.remaining(pdu, "outlet=1", now=10) == 50
    assert cooldown.remaining(pdu, "outlet=2", now=10) == 0
    assert cooldown.remaining(pdu, None, now=10) == 50, "the whole device waits for its outlet"
    assert cooldown.remaining(other, None, now=10) == 0
    assert cooldown.remaining(("cloudtrax", "pdu"), None, now=10) == 0, "another source's unit of the same name"
    cooldown.start(other, None, now=20)
    assert cooldown.remaining(other, "outlet=5", now=30) == 50, "every outlet waits for the device's reboot"
    assert cooldown.remaining(pdu, None, now=60) == 0


async def test_refusals_are_audited_with_the_dry_run_that_was_asked_for(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.logs import configure_logging

    d = await started(live, tmp_path)
    configure_logging("info", "logfmt")
    capsys.readouterr()
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=true", token="guess"))[0] == 401
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=true&force=1"))[0] == 400
    assert (await call(d, "/api/v1/fake/a-d0/reboot?dry_run=maybe"))[0] == 400
    out = capsys.readouterr()
    audit = [line for line in (out.out + out.err).splitlines() if " msg=action " in line]
    assert [re.search(r" dry_run=(\S*)", line).group(1) for line in audit] == ["true", "true", ""], audit  # type: ignore[union-attr]


def test_query_is_read_whole_before_anything_can_fail() -> None:
    from exporter.actions.service import Query, parse_query

    assert parse_query({"dry_run": "TRUE"}) == Query(True, None, None)
    assert parse_query({}) == Query(False, None, None)
    assert parse_query({"dry_run": "1", "confirm": "critical"}) == Query(True, "critical", None)
    assert parse_query({"dry_run": "yes"}).problem == "dry_run: expected true or false"
    assert parse_query({"confirm": "yes"}).problem == "confirm: the only accepted value is critical"
    unknown = parse_query({"dry_run": "true", "datacenter2024": "x"})
    assert unknown.dry_run is True and unknown.problem is not None and "datacenter" not in unknown.problem


class _Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_refusal_log_keeps_a_budget_per_client_and_counts_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.actions.refusals import MAX_CLIENTS, RefusalLog
    from exporter.logs import configure_logging

    configure_logging("info", "logfmt")
    now = [0.0]
    refusals = RefusalLog(2, 60, clock=lambda: now[0])
    logger = _Lines()
    for _ in range(5):
        refusals.info(logger, "action", client="192.0.2.1", status=401)
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):  # one /64, one client
        refusals.info(logger, "action", client=host)
    refusals.info(logger, "action", client="198.51.100.9")
    assert [f["client"] for _, f in logger.lines] == [
        "192.0.2.1",
        "192.0.2.1",
        "2001:db8::1",
        "2001:db8::2",
        "198.51.100.9",
    ]
    assert logger.lines[0] == ("action", {"client": "192.0.2.1", "status": 401})
    assert capsys.readouterr().err == "", "nothing is said about what was left out before the window ends"
    now[0] = 60.0
    refusals.info(logger, "action", client="192.0.2.1")  # a new window: the old one's counts first
    summaries = capsys.readouterr().err.splitlines()
    assert len(summaries) == 2 and all('msg="refusals left out of the log"' in line for line in summaries)
    assert "client=192.0.2.1 left_out=3 logged=2 window_seconds=60" in summaries[0]
    assert "client=2001:db8::/64 left_out=1 logged=2" in summaries[1]
    assert len(logger.lines) == 6
    for i in range(MAX_CLIENTS + 50):  # many addresses share one budget past MAX_CLIENTS
        refusals.info(logger, "action", client=f"10.0.{i // 256}.{i % 256}")
    assert len(logger.lines) == 6 + MAX_CLIENTS - 1 + 2
    refusals.flush()
    assert "client=others left_out=49 logged=2" in capsys.readouterr().err
