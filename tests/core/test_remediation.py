"""The Alertmanager webhook in-process, against the fake source: every guard rail and every bad input.

Nothing refused may reach upstream: `ACTION_CALLS` records every call the fake actions make.
The end-to-end proof with real Alertmanager, Prometheus and the DLI simulator is tests/e2e/test_remediation_live.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import parse_config
from tests.core.conftest import SOURCES, LiveDaemon, eventually
from tests.core.fake_source import ACTION_CALLS, script
from tests.support.alertmanager_payload import alert as firing_alert
from tests.support.alertmanager_payload import payload
from tests.support.clock import WallAndMonoClock
from tests.support.process import value

Live = Callable[[str], Awaitable[LiveDaemon]]
HOOK = "/api/v1/remediation/alertmanager"
AM = "alertmanager-token-0123456789"
OPS = "ops-token-0123456789abcd"
NARROW = "narrow-am-token-01234567"


def config(rules: str, token: str = "alertmanager", cooldown: str = "1s") -> str:
    return f"""\
global: {{interval: 50ms, timeout: 50ms, jitter: 0}}
targets:
- {{source: fake, name: a, devices: 3, ports: 4}}
actions:
  cooldown: {cooldown}
  auth_failures: {{max_failures: 100, window: 1m}}
  tokens:
  - name: alertmanager
    token_sha256: {hashlib.sha256(AM.encode()).hexdigest()}
    allow: [{{actions: [fake.port_reset, fake.reboot], targets: [a-d0, a-d1, a-d9]}}]
  - name: ops
    token: {OPS}
    allow: [{{actions: ["*"], targets: ["*"]}}]
remediation:
  token: {token}
  rules:
{rules}"""


RESET = """\
  - name: reset-port
    matchers: ['alertname="PortDown"', 'device=~"a-d.*"']
    action: fake.port_reset
    params: {device: "{{ .Labels.device }}", port: "{{ .Labels.port }}"}
    dry_run: false
    min_firing: 1m
    verify_within: 300ms
"""


def alert(status: str = "firing", *, fp: str = "a1", ago: float = 3600.0, **labels: str) -> dict[str, Any]:
    """An alert about port 1 of the fake device a-d0, unless `labels` say otherwise."""
    return firing_alert(status, fp=fp, ago=ago, **{"device": "a-d0", "port": "1", **labels})


async def send(d: LiveDaemon, body: Any, token: str | None = AM, **kw: Any) -> tuple[int, dict[str, Any]]:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if not isinstance(body, bytes | str):
        kw["json"] = body
    else:
        kw["data"] = body
    async with d.session.post(d.url + HOOK, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


def results(data: dict[str, Any]) -> list[str]:
    return [d["result"] for d in data["decisions"]]


async def started(live: Live, rules: str = RESET, **kw: str) -> LiveDaemon:
    d = await live(config(rules, **kw))
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    return d


async def count(d: LiveDaemon, rule: str, result: str) -> float | None:
    return value(await d.metrics(), "powerstrip_exporter_remediations_total", rule=rule, result=result)


async def test_a_firing_alert_acts_once_despite_resends_and_an_ha_peer(live: Live) -> None:
    d = await started(live)
    firing = alert()
    status, data = await send(d, payload(firing))
    assert (status, results(data)) == (200, ["acted"])
    assert ACTION_CALLS == [("port_reset", "a-d0", 1)]
    # The HA pair's two copies at the same moment, then a repeat_interval resend.
    both = await asyncio.gather(send(d, payload(firing)), send(d, payload(firing)))
    assert [results(data) for _, data in both] == [["duplicate"], ["duplicate"]]
    _, data = await send(d, payload(firing))
    assert results(data) == ["duplicate"]
    assert ACTION_CALLS == [("port_reset", "a-d0", 1)]
    assert await count(d, "reset-port", "acted") == 1
    assert await count(d, "reset-port", "duplicate") == 3


async def test_resolved_alerts_never_act_and_settle_the_verification(live: Live) -> None:
    d = await started(live, RESET.replace("verify_within: 300ms", "verify_within: 1h"))
    firing = alert(fp="b2")
    resolved = {**firing, "status": "resolved"}
    _, data = await send(d, payload(resolved))
    assert results(data) == ["resolved"]
    assert ACTION_CALLS == []
    await send(d, payload(firing))
    _, data = await send(d, payload(resolved))
    assert results(data) == ["resolved"]
    assert len(ACTION_CALLS) == 1
    assert await count(d, "reset-port", "recovered") == 1
    assert await count(d, "reset-port", "not_recovered") == 0


async def test_an_alert_that_does_not_resolve_in_time_is_not_recovered_and_not_retried(live: Live) -> None:
    d = await started(live)
    firing = alert(fp="c3")
    await send(d, payload(firing))

    async def settled() -> bool:
        return await count(d, "reset-port", "not_recovered") == 1

    deadline = time.monotonic() + 10
    while not await settled():
        assert time.monotonic() < deadline, "verification never gave up"
        await asyncio.sleep(0.05)
    _, data = await send(d, payload(firing))
    assert results(data) == ["duplicate"]
    assert len(ACTION_CALLS) == 1
    assert await count(d, "reset-port", "recovered") == 0


async def test_an_alert_younger_than_min_firing_waits_for_a_later_resend(live: Live) -> None:
    d = await started(live)
    clock = WallAndMonoClock()
    d.daemon.remediation.clock = clock
    young = alert(fp="d4", ago=10)
    _, data = await send(d, payload(young))
    assert results(data) == ["too_early"]
    assert ACTION_CALLS == []
    clock.offset = 60.0  # the same episode, resent a minute later
    _, data = await send(d, payload(young))
    assert results(data) == ["acted"]


async def test_per_target_limit_and_the_budget_breaker(live: Live) -> None:
    rules = RESET.replace("min_firing: 1m", "min_firing: 1m\n    budget_per_hour: 2\n    breaker_reset: 30m")
    d = await started(live, rules, cooldown="1ms")  # the action API's cooldown is tested elsewhere
    clock = WallAndMonoClock()
    d.daemon.remediation.clock = clock
    _, data = await send(d, payload(alert(fp="e1", ago=4000)))
    assert results(data) == ["acted"]
    clock.mono_now += 2
    _, data = await send(d, payload(alert(fp="e1", ago=3000)))  # same target, a new episode
    assert results(data) == ["limited"]
    _, data = await send(d, payload(alert(fp="e2", device="a-d1")))
    assert results(data) == ["acted"]
    assert await count(d, "reset-port", "limited") == 1
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="reset-port") == 0
    # The budget of two is spent: the next alert opens the breaker and calls nothing.
    _, data = await send(d, payload(alert(fp="e3", port="2")))
    assert results(data) == ["breaker_open"]
    _, data = await send(d, payload(alert(fp="e4", device="a-d1", port="3")))
    assert results(data) == ["breaker_open"]
    assert len(ACTION_CALLS) == 2
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="reset-port") == 1
    assert value(m, "powerstrip_exporter_remediations_total", rule="reset-port", result="breaker_open") == 2
    # Its own timer closes it (and by then the hour's budget has rolled over)...
    clock.mono_now += 3600
    _, data = await send(d, payload(alert(fp="e5", device="a-d1", port="2", ago=7200)))
    assert results(data) == ["acted"]
    # A reload keeps it open and its budget spent; only an authorized close reopens the rule.
    await send(d, payload(alert(fp="e6", port="3", ago=7200)))
    clock.mono_now += 2
    _, data = await send(d, payload(alert(fp="e7", device="a-d1", port="3", ago=7200)))
    assert results(data) == ["breaker_open"]
    assert (await d.daemon.reload()).ok
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="reset-port") == 1
    _, data = await send(d, payload(alert(fp="e8", device="a-d1", port="0", ago=7200)))
    assert results(data) == ["breaker_open"]
    close = "/api/v1/remediation/rules/reset-port/breaker/close"
    async with d.session.post(d.url + close, headers={"Authorization": f"Bearer {AM}"}) as resp:
        assert resp.status == 403  # the alertmanager token's allow rules do not name remediation.breaker_close
    async with d.session.post(d.url + close, headers={"Authorization": f"Bearer {OPS}"}) as resp:
        assert (resp.status, (await resp.json())["was_open"]) == (200, True)
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="reset-port") == 0
    assert value(m, "powerstrip_exporter_remediation_breaker_closes_total", rule="reset-port") == 1
    _, data = await send(d, payload(alert(fp="e9", device="a-d1", port="0", ago=7200)))
    assert results(data) == ["acted"]


async def test_breaker_gauge_closes_on_its_own_timer(live: Live) -> None:
    rules = RESET.replace("min_firing: 1m", "min_firing: 1m\n    budget_per_hour: 1\n    breaker_reset: 300ms")
    d = await started(live, rules)
    await send(d, payload(alert(fp="f1")))
    _, data = await send(d, payload(alert(fp="f2", device="a-d1")))
    assert results(data) == ["breaker_open"]
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="reset-port") == 1
    deadline = time.monotonic() + 10
    while value(await d.metrics(), "powerstrip_exporter_remediation_breaker_open", rule="reset-port") != 0:
        assert time.monotonic() < deadline, "the breaker never closed"
        await asyncio.sleep(0.05)


async def test_dry_run_decides_and_calls_nothing(live: Live) -> None:
    d = await started(live, RESET.replace("dry_run: false", "dry_run: true"))
    _, data = await send(d, payload(alert(fp="901")))
    assert results(data) == ["dry_run"]
    assert data["decisions"][0]["detail"] == "dry run: would reset port 1 of a-d0"
    assert ACTION_CALLS == []
    assert await count(d, "reset-port", "dry_run") == 1


async def test_rules_default_to_dry_run(live: Live) -> None:
    d = await started(live, RESET.replace("    dry_run: false\n", ""))
    _, data = await send(d, payload(alert(fp="902")))
    assert results(data) == ["dry_run"]
    assert ACTION_CALLS == []


async def test_the_tokens_allow_rules_and_the_shared_cooldown_bound_remediation(live: Live) -> None:
    d = await started(live)
    _, data = await send(d, payload(alert(fp="911", device="a-d2")))  # the token may not touch a-d2
    assert results(data) == ["refused"]
    assert "may not fake.port_reset on this target" in data["decisions"][0]["detail"]
    async with d.session.post(d.url + "/api/v1/fake/a-d0/ports/1/reset", headers={"Authorization": f"Bearer {OPS}"}):
        pass
    _, data = await send(d, payload(alert(fp="912")))  # the action API just acted on a-d0: cooling down
    assert results(data) == ["deferred"]
    assert "cooling down" in data["decisions"][0]["detail"]
    assert ACTION_CALLS == [("port_reset", "a-d0", 1)]  # only the action API's own call
    m = await d.metrics()
    assert (
        value(m, "powerstrip_exporter_action_failures_total", source="fake", action="port_reset", reason="forbidden")
        == 1
    )
    assert (
        value(m, "powerstrip_exporter_action_failures_total", source="fake", action="port_reset", reason="cooldown")
        == 1
    )


async def test_a_cooldown_that_does_not_end_is_retried_three_times_then_refused(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = await started(live, cooldown="100ms")
    monkeypatch.setattr(d.daemon.actions.cooldown, "remaining", lambda *args, **kw: 5.0)  # someone keeps acting
    firing = alert(fp="951")
    _, data = await send(d, payload(firing))
    assert results(data) == ["deferred"]
    assert data["decisions"][0]["detail"].endswith("(try 1 of 3)")
    await eventually(lambda: not d.daemon.remediation.memory.deferred, what="the retries to give up")
    assert await count(d, "reset-port", "deferred") == 3
    assert await count(d, "reset-port", "refused") == 1
    assert ACTION_CALLS == []
    _, data = await send(d, payload(firing))
    assert results(data) == ["duplicate"]


async def test_a_resolved_alert_drops_its_retry(live: Live) -> None:
    d = await started(live, cooldown="1h")
    async with d.session.post(d.url + "/api/v1/fake/a-d0/ports/1/reset", headers={"Authorization": f"Bearer {OPS}"}):
        pass
    firing = alert(fp="961")
    _, data = await send(d, payload(firing))
    assert results(data) == ["deferred"]
    assert d.daemon.remediation.memory.deferred
    _, data = await send(d, payload({**firing, "status": "resolved"}))
    assert results(data) == ["resolved"]
    assert not d.daemon.remediation.memory.deferred  # its timer is cancelled: nothing will act
    _, data = await send(d, payload(firing))
    assert results(data) == ["duplicate"]
    assert ACTION_CALLS == [("port_reset", "a-d0", 1)]  # the person's reset only


async def test_a_target_not_in_the_latest_snapshot_is_refused_and_costs_no_budget(live: Live) -> None:
    rules = RESET.replace("min_firing: 1m", "min_firing: 1m\n    budget_per_hour: 1")
    d = await started(live, rules)
    _, data = await send(d, payload(alert(fp="941", device="a-d9")))  # allowed for the token, but not polled
    assert results(data) == ["refused"]
    assert "not in the latest snapshot" in data["decisions"][0]["detail"]
    _, data = await send(d, payload(alert(fp="942")))  # the budget of one is still there
    assert results(data) == ["acted"]
    assert ACTION_CALLS == [("port_reset", "a-d0", 1)]


async def test_alerts_no_rule_matches_are_ignored(live: Live) -> None:
    d = await started(live)
    _, data = await send(d, payload(alert(fp="921", alertname="Other")))
    assert results(data) == ["no_rule"]
    assert ACTION_CALLS == []


BAD_INPUT = [
    ("not json", b"{nope", {"Content-Type": "application/json"}, AM, 400, "not valid JSON"),
    ("wrong content type", b"{}", {"Content-Type": "text/plain"}, AM, 415, "unsupported content type"),
    ("wrong version", {**payload(alert()), "version": "3"}, {}, AM, 400, "version"),
    ("no alerts key", {"version": "4", "status": "firing", "receiver": "r"}, {}, AM, 400, "alerts"),
    ("label value not a string", payload({**alert(), "labels": {"port": 1}}), {}, AM, 400, "labels"),
    ("bad startsAt", payload({**alert(), "startsAt": "yesterday"}), {}, AM, 400, "startsAt"),
    ("bad fingerprint", payload({**alert(), "fingerprint": "../x"}), {}, AM, 400, "fingerprint"),
    ("a list", [payload(alert())], {}, AM, 400, "not an Alertmanager webhook payload"),
    ("deep nesting", "[" * 60_000, {"Content-Type": "application/json"}, AM, 400, "not valid JSON"),
    ("too large", b"x" * (64 * 1024 + 1), {"Content-Type": "application/json"}, AM, 413, "too large"),
    ("no token", payload(alert()), {}, None, 401, "missing bearer token"),
    ("unknown token", payload(alert()), {}, "not-a-token-at-all-xx", 401, "invalid token"),
    ("someone else's token", payload(alert()), {}, OPS, 403, "'ops' may not send alerts for remediation"),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "token", "status", "detail"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
async def test_bad_input_gets_a_clear_4xx_and_calls_nothing(
    live: Live, case: str, body: Any, headers: dict[str, str], token: str | None, status: int, detail: str
) -> None:
    d = await started(live)
    got, data = await send(d, body, token, headers=headers)
    assert got == status, data
    assert detail in data["detail"]
    assert ACTION_CALLS == []
    if token == AM and status >= 400:  # the valid token still works afterwards
        _, data = await send(d, payload(alert(fp="ff")))
        assert results(data) == ["acted"]


async def test_a_template_that_yields_no_target_is_a_422_and_the_other_alerts_still_count(live: Live) -> None:
    d = await started(live)
    no_port = alert(fp="931")
    del no_port["labels"]["port"]
    status, data = await send(d, payload(no_port, alert(fp="932", port="abc"), alert(fp="933", port="2")))
    assert status == 422
    assert results(data) == ["invalid", "invalid", "acted"]
    assert "template yields no target: label 'port' is missing or empty" in data["decisions"][0]["detail"]
    assert "port: expected an integer" in data["decisions"][1]["detail"]
    assert ACTION_CALLS == [("port_reset", "a-d0", 2)]
    assert await count(d, "reset-port", "invalid") == 2


async def test_disabled_remediation_refuses_every_payload(live: Live) -> None:
    d = await live(config("").replace("remediation:\n  token: alertmanager\n  rules:\n", ""))
    status, data = await send(d, payload(alert()))
    assert status == 403
    assert "remediation is disabled" in data["detail"]
    assert ACTION_CALLS == []


async def test_get_is_not_allowed(live: Live) -> None:
    d = await started(live)
    async with d.session.get(d.url + HOOK) as resp:
        assert resp.status == 405


@pytest.mark.parametrize(
    ("rules", "token", "error"),
    [
        (RESET.replace("fake.port_reset", "fake.explode"), "alertmanager", "unknown action 'fake.explode'"),
        (RESET.replace("fake.port_reset", "dli.outlet_cycle"), "alertmanager", "unknown action 'dli.outlet_cycle'"),
        (RESET.replace('port: "{{ .Labels.port }}"', 'outlet: "1"'), "alertmanager", "needs port"),
        (RESET.replace('port: "{{ .Labels.port }}"', 'port: "1", extra: "2"'), "alertmanager", "takes no extra"),
        (RESET, "nobody", "no actions.tokens entry is named 'nobody'"),
        (RESET.replace("{{ .Labels.port }}", "{{ .Labels.port | int }}"), "alertmanager", "only {{ .Labels.<name> }}"),
        (RESET.replace('device=~"a-d.*"', 'device=~"("'), "alertmanager", "invalid regular expression"),
        (RESET.replace("['alertname=\"PortDown\"', 'device=~\"a-d.*\"']", "[]"), "alertmanager", "at least 1"),
        (RESET + RESET, "alertmanager", "duplicate rule names: reset-port"),
        (RESET.replace("min_firing: 1m", "min_firing: soon"), "alertmanager", "expected a duration"),
    ],
)
def test_bad_rules_are_config_errors_naming_the_cause(rules: str, token: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config(rules, token=token), SOURCES)
    assert error in "\n".join(info.value.messages)


def test_rules_without_a_token_are_refused() -> None:
    text = config(RESET).replace("  token: alertmanager\n", "")
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCES)
    assert "rules need a token" in "\n".join(info.value.messages)


def test_config_page_shows_the_rules(tmp_path: Path) -> None:
    cfg = parse_config(config(RESET), SOURCES)
    shown = json.dumps(cfg.redacted())
    assert "reset-port" in shown and AM not in shown
