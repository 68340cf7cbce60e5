"""Remediation through the running exporter process and a DLI simulator: restarts (graceful and SIGKILL),
a reload, an alert before the first poll, a flood of refusals, a cooldown, an outlet that is off, rejected
posts, and two shards.

Device calls are counted from the simulator's own request record, never from the exporter. Alerts are
posted as Alertmanager posts them; tests/e2e/test_remediation_fleet_live.py does the same with real
Alertmanagers and Prometheus.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.engine.engine import Shard
from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.support.alertmanager_payload import payload
from tests.support.process import ExporterProcess, value

HOOK = "/api/v1/remediation/alertmanager"
AM = "9c1f4be07a2d58e3c6b0f1a4"
OPS = "e5a7c3091bd4f26a8c0e7b13"
PASSWORD = "q7Vx-31kd-pw"


def rule(name: str, outlets: str = ".*", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "matchers": ['alertname="HostDown"', f'rule="{name}"', f'outlet=~"{outlets}"'],
        "action": "dli.outlet_cycle",
        "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
        "dry_run": False,
        "min_firing": "1s",
        "verify_within": "10m",
        **extra,
    }


def config(devices: dict[str, str], rules: list[dict[str, Any]], cooldown: str = "1ms") -> str:
    return yaml.safe_dump(
        {
            "global": {
                "interval": "500ms",
                "timeout": "500ms",
                "stale_after": "1m",
                "backoff_max": "500ms",
                "jitter": 0,
            },
            "targets": [
                {"source": "dli", "name": name, "url": url, "username": DEFAULT_USERNAME, "password": PASSWORD}
                for name, url in devices.items()
            ],
            "actions": {
                "cooldown": cooldown,
                "auth_failures": {"max_failures": 1000, "window": "1m"},
                "tokens": [
                    {
                        "name": "alertmanager",
                        "token": AM,
                        "allow": [{"actions": ["dli.outlet_cycle"], "targets": list(devices)}],
                    },
                    {"name": "ops", "token": OPS, "allow": [{"actions": ["*"], "targets": ["*"]}]},
                ],
            },
            "remediation": {"token": "alertmanager", "rules": rules},
        },
        sort_keys=False,
    )


STARTS: dict[str, float] = {}
"""When each fingerprint started firing: a resend of an episode carries the same startsAt."""


def alert(fp: str, rule: str, outlet: int, *, status: str = "firing", pdu: str = "pro") -> dict[str, Any]:
    starts = dt.datetime.fromtimestamp(STARTS.setdefault(fp, round(time.time() - 600)), dt.UTC)
    return {
        "status": status,
        "labels": {"alertname": "HostDown", "rule": rule, "pdu": pdu, "outlet": str(outlet)},
        "annotations": {},
        "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }


async def send(exp: ExporterProcess, body: Any, token: str | None = AM, **kw: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, text = await exp.post(HOOK, json=body, headers=headers, **kw)
    return status, json.loads(text)


def results(data: dict[str, Any]) -> list[str]:
    return [d["result"] for d in data["decisions"]]


def cycles(sim: DliSimulator, outlet: int) -> int:
    return sim.stats.requests.get(f"POST /restapi/relay/outlets/{outlet}/cycle/", 0)


def events(exp: ExporterProcess, msg: str) -> list[dict[str, Any]]:
    found = []
    for line in exp.logs().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("msg") == msg:
                found.append(event)
    return found


async def count(exp: ExporterProcess, name: str, **labels: str) -> float:
    return value(await exp.metrics(), name, **labels) or 0.0


Start = Callable[..., Awaitable[ExporterProcess]]


@pytest.fixture
async def sim() -> AsyncIterator[DliSimulator]:
    async with DliSimulator("pro", password=PASSWORD, cycle_delay=0.05) as device:
        for outlet in range(1, 8):  # all on but outlet 0, the critical one (on already)
            device.device.set_state(outlet, True)
        yield device


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """`await start(config_text, storage=..., polled=True, args=[...])`: an exporter process, stopped at the end."""
    running: list[ExporterProcess] = []

    async def launch(
        text: str, *, storage: Path | None = None, polled: bool = True, args: tuple[str, ...] = ()
    ) -> ExporterProcess:
        workdir = tmp_path / f"exporter-{len(running)}"
        workdir.mkdir()
        flags = ["--log.format", "json", *args]
        if storage is not None:
            flags += ["--storage.path", str(storage)]
        exp = ExporterProcess(workdir, text, args=flags)
        running.append(exp)
        await exp.__aenter__()
        if polled:
            await exp.wait_for_sample("dli_outlet_info", None, device="pro", outlet="7")
        return exp

    yield launch
    for exp in running:
        await exp.stop()


async def test_a_restart_while_the_alert_keeps_firing_acts_no_more(
    sim: DliSimulator, start: Start, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    text = config(
        {"pro": sim.url}, [rule("once", budget_per_hour=5, verify_within="1h"), rule("budget", budget_per_hour=1)]
    )
    exp = await start(text, storage=state)
    status, data = await send(exp, payload(alert("a1", "once", 1)))
    assert (status, results(data)) == (200, ["acted"])
    _, data = await send(exp, payload(alert("b1", "budget", 3), alert("b2", "budget", 4)))
    assert results(data) == ["acted", "breaker_open"]
    assert await exp.stop() == 0  # SIGTERM: a graceful stop

    exp = await start(text, storage=state)
    _, data = await send(exp, payload(alert("a1", "once", 1), alert("b3", "budget", 5)))
    assert results(data) == ["duplicate", "breaker_open"]
    assert await count(exp, "powerstrip_exporter_remediation_breaker_open", rule="budget") == 1
    assert (cycles(sim, 1), cycles(sim, 3), cycles(sim, 4), cycles(sim, 5)) == (1, 1, 0, 0)
    _, data = await send(exp, payload(alert("a1", "once", 1, status="resolved")))
    assert await count(exp, "powerstrip_exporter_remediations_total", rule="once", result="recovered") == 1

    # The memory is on disk before the device is called: a SIGKILL right after acting forgets nothing.
    _, data = await send(exp, payload(alert("c1", "once", 2)))
    assert results(data) == ["acted"]
    assert await exp.stop(signal.SIGKILL) == -signal.SIGKILL
    exp = await start(text, storage=state)
    _, data = await send(exp, payload(alert("c1", "once", 2)))
    assert results(data) == ["duplicate"]
    assert cycles(sim, 2) == 1
    assert events(exp, "remediation memory loaded")


async def test_an_alert_before_the_first_poll_is_decided_by_the_resend(sim: DliSimulator, start: Start) -> None:
    sim.set_faults(http_status=503)  # the device answers nothing useful yet: no snapshot
    exp = await start(config({"pro": sim.url}, [rule("early")]), polled=False)
    status, data = await send(exp, payload(alert("d1", "early", 1)))
    assert (status, results(data)) == (503, ["not_ready"])  # a 5xx: Alertmanager sends it again
    assert cycles(sim, 1) == 0
    sim.clear_faults()
    await exp.wait_for_sample("dli_outlet_info", None, device="pro", outlet="7")
    status, data = await send(exp, payload(alert("d1", "early", 1)))
    assert (status, results(data)) == (200, ["acted"])
    assert cycles(sim, 1) == 1
    assert await count(exp, "powerstrip_exporter_remediations_total", rule="early", result="not_ready") == 1


async def test_a_reload_keeps_the_breaker_open_and_only_an_authorized_close_reopens_it(
    sim: DliSimulator, start: Start
) -> None:
    exp = await start(config({"pro": sim.url}, [rule("budget", budget_per_hour=1)]))
    _, data = await send(exp, payload(alert("e1", "budget", 1), alert("e2", "budget", 2)))
    assert results(data) == ["acted", "breaker_open"]
    exp.signal(signal.SIGHUP)
    await exp.wait_for(lambda: _logged(exp, "config reloaded"), what="the reload")
    _, data = await send(exp, payload(alert("e3", "budget", 3)))
    assert results(data) == ["breaker_open"]
    assert await count(exp, "powerstrip_exporter_remediation_breaker_open", rule="budget") == 1

    close = "/api/v1/remediation/rules/budget/breaker/close"
    status, _ = await exp.post(close)
    assert status == 401
    status, text = await exp.post(close, headers={"Authorization": f"Bearer {AM}"})
    assert status == 403 and "may not remediation.breaker_close" in text
    status, text = await exp.post(
        "/api/v1/remediation/rules/no-such-rule/breaker/close", headers={"Authorization": f"Bearer {OPS}"}
    )
    assert status == 404 and "no-such-rule" not in text
    status, text = await exp.post(close, headers={"Authorization": f"Bearer {OPS}"})
    assert (status, json.loads(text)["was_open"]) == (200, True)
    m = await exp.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="budget") == 0
    assert value(m, "powerstrip_exporter_remediation_breaker_closes_total", rule="budget") == 1
    rejected = "powerstrip_exporter_remediation_requests_rejected_total"
    for reason in ("unauthenticated", "forbidden", "not_found"):
        assert value(m, rejected, endpoint="breaker_close", reason=reason) == 1, reason
    audit = [e for e in events(exp, "action") if e.get("action") == "remediation.breaker_close"]
    assert [(e["token"], e["target"], e["decision"]) for e in audit] == [
        (None, "budget", "unauthenticated"),
        ("alertmanager", "budget", "forbidden"),
        ("ops", None, "not_found"),
        ("ops", "budget", "allowed"),
    ]
    _, data = await send(exp, payload(alert("e4", "budget", 4)))
    assert results(data) == ["acted"]
    assert [cycles(sim, o) for o in (1, 2, 3, 4)] == [1, 0, 0, 1]


def _logged(exp: ExporterProcess, msg: str) -> Awaitable[bool]:
    async def check() -> bool:
        return bool(events(exp, msg))

    return check()


async def test_a_flood_of_refused_alerts_does_not_evict_what_was_done(sim: DliSimulator, start: Start) -> None:
    exp = await start(config({"pro": sim.url}, [rule("flood", budget_per_hour=1000)]))
    _, data = await send(exp, payload(alert("f0", "flood", 1)))
    assert results(data) == ["acted"]
    for batch in range(100):  # 10,000 alerts for 10,000 devices the token may not touch: refused, nothing called
        alerts = [alert(f"{batch:02x}{i:02x}{'e' * 8}", "flood", 1, pdu=f"ghost-{batch}-{i}") for i in range(100)]
        status, data = await send(exp, payload(*alerts))
        assert status == 200 and set(results(data)) == {"refused"}, data["decisions"][0]
    _, data = await send(exp, payload(alert("f0", "flood", 1), alert("f1", "flood", 1)))
    assert results(data) == ["duplicate", "limited"]  # the episode, and the outlet's history, are remembered
    assert cycles(sim, 1) == 1
    assert await count(exp, "powerstrip_exporter_remediations_total", rule="flood", result="refused") == 10_000


async def test_a_cooldown_refusal_is_retried_when_it_has_passed_and_a_dry_run_is_not_refused(
    sim: DliSimulator, start: Start
) -> None:
    exp = await start(config({"pro": sim.url}, [rule("live"), rule("dry", dry_run=True)], cooldown="2s"))
    ops = {"Authorization": f"Bearer {OPS}"}
    status, _ = await exp.post("/api/v1/dli/pro/outlets/1/cycle", headers=ops)  # someone cycled it by hand
    assert status == 200
    status, data = await send(exp, payload(alert("9a1", "live", 1), alert("9a2", "dry", 1)))
    assert results(data) == ["deferred", "dry_run"]
    assert "cooling down" in data["decisions"][0]["detail"]
    assert "would act once the cooldown has passed" in data["decisions"][1]["detail"]

    async def retried() -> bool:
        return await count(exp, "powerstrip_exporter_remediations_total", rule="live", result="acted") == 1

    await exp.wait_for(retried, what="the retry after the cooldown")
    assert cycles(sim, 1) == 2  # the hand-made cycle and the retried one, nothing from the dry run
    _, data = await send(exp, payload(alert("9a1", "live", 1), alert("9a2", "dry", 1)))
    assert results(data) == ["duplicate", "duplicate"]
    assert cycles(sim, 1) == 2


async def test_an_outlet_that_is_off_is_not_cycled_and_not_counted_as_acted(sim: DliSimulator, start: Start) -> None:
    sim.device.set_state(2, False)
    exp = await start(config({"pro": sim.url}, [rule("off")]))
    _, data = await send(exp, payload(alert("8b1", "off", 2)))
    assert results(data) == ["refused"]
    assert data["decisions"][0]["detail"] == "outlet 2 of pro is off: cycling it would change nothing"
    assert cycles(sim, 2) == 0
    assert await count(exp, "powerstrip_exporter_remediations_total", rule="off", result="acted") == 0


async def test_rejected_posts_and_truncated_alerts_are_counted(sim: DliSimulator, start: Start) -> None:
    exp = await start(config({"pro": sim.url}, [rule("count")]))
    assert (await send(exp, payload(), token=None))[0] == 401
    assert (await send(exp, payload(), token="not-a-token-anybody-has"))[0] == 401
    assert (await send(exp, payload(), token=OPS))[0] == 403
    assert (await exp.post(HOOK, data=b"{nope", headers={"Authorization": f"Bearer {AM}"}))[0] == 415
    bad = {"Authorization": f"Bearer {AM}", "Content-Type": "application/json"}
    assert (await exp.post(HOOK, data=b"{nope", headers=bad))[0] == 400
    assert (await exp.get(HOOK))[0] == 405
    status, data = await send(exp, payload(alert("7c1", "count", 1), truncated=7))
    assert (status, results(data)) == (200, ["acted"])
    m = await exp.metrics()
    rejected = "powerstrip_exporter_remediation_requests_rejected_total"
    got = {
        reason: value(m, rejected, endpoint="webhook", reason=reason)
        for reason in (
            "unauthenticated",
            "forbidden",
            "unsupported_media_type",
            "bad_request",
            "method_not_allowed",
            "too_large",
        )
    }
    assert got == {
        "unauthenticated": 2,
        "forbidden": 1,
        "unsupported_media_type": 1,
        "bad_request": 1,
        "method_not_allowed": 1,
        "too_large": 0,
    }
    assert value(m, "powerstrip_exporter_remediation_truncated_alerts_total") == 7
    [warning] = events(exp, "alerts truncated by Alertmanager")
    assert (warning["truncated"], warning["decided"]) == (7, 1)
    assert "raise max_alerts" in warning["advice"]


def _owned_by(index: int) -> str:
    """A device name the shard `index` of two owns."""
    return next(name for name in (f"pdu-{i}" for i in range(100)) if Shard(index, 2).owns("dli", name))


async def test_two_shards_each_act_only_on_the_targets_they_own(start: Start) -> None:
    first, second = _owned_by(0), _owned_by(1)
    async with DliSimulator("pro", password=PASSWORD) as one, DliSimulator("pro", password=PASSWORD) as two:
        text = config({first: one.url, second: two.url}, [rule("fleet")])
        shards = []
        for index in (0, 1):
            args = ("--shard.count", "2", "--shard.index", str(index))
            exp = await start(text, polled=False, args=args)
            await exp.wait_for_sample("dli_outlet_info", None, device=(first, second)[index], outlet="7")
            shards.append(exp)
        both = payload(alert("6d1", "fleet", 1, pdu=first), alert("6d2", "fleet", 1, pdu=second))
        answers = [await send(exp, both) for exp in shards]
        assert [(status, results(data)) for status, data in answers] == [
            (200, ["acted", "not_owned"]),
            (200, ["not_owned", "acted"]),
        ]
        detail = answers[0][1]["decisions"][1]["detail"]
        assert "shard 0 of 2" in detail and "not configured" not in detail
        assert (cycles(one, 1), cycles(two, 1)) == (1, 1)
        for index, exp in enumerate(shards):
            assert await count(exp, "powerstrip_exporter_remediations_total", rule="fleet", result="not_owned") == 1
            assert not [e for e in events(exp, "action") if e.get("target") == (second, first)[index]]


async def test_a_second_process_on_the_same_state_directory_refuses_to_start(
    sim: DliSimulator, start: Start, tmp_path: Path
) -> None:
    state = tmp_path / "shared"
    text = config({"pro": sim.url}, [rule("lock")])
    await start(text, storage=state)
    second = ExporterProcess(tmp_path, text, args=["--storage.path", str(state)], wait_healthy=False)
    try:
        await second.__aenter__()
        await second.wait_for(lambda: _exited(second), timeout=20, what="the second process to exit")
        assert second.proc is not None and second.proc.returncode not in (None, 0)
        assert str(state) in second.logs()
    finally:
        await second.stop()


async def _exited(exp: ExporterProcess) -> bool:
    return exp.proc is not None and exp.proc.poll() is not None
