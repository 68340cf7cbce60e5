"""Remediation end to end: a probe fails -> real Prometheus fires -> a real Alertmanager HA pair notifies
the exporter's webhook (bearer token from `credentials_file`) -> the exporter cycles a DLI simulator's outlet.

    probe server (test-controlled probe_success) <--scrape 1s-- prometheus (probe alert + shipped alerts.yml)
        --alerts--> alertmanager A <--gossip--> alertmanager B   (both notify; repeat_interval 2s)
        --webhook--> exporter actions listener --digest REST--> DLI simulator
        (people's receiver: severity=warning, the shipped alert that announces each action)

Device calls are counted from the simulator's own request record (`/_sim/stats`), never from the exporter.
The stack starts once for the module (Prometheus' service discovery takes about 5 s); each test uses its
own hosts, outlets and rule, so they do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.e2e import alerting_stack, live
from tests.ops import opslib
from tests.support.process import ExporterProcess, Samples, free_port, parse_metrics, value

TOKEN = "9f2c7be1a04d63e8b5c1d7a2e6f0b394"  # unlike its name: redaction hides any 8-character piece of a secret
DLI_PASSWORD = "q7Vx-31kd-pw"  # shares no 8-character piece with a log word: redaction would hide it
DEVICE = "pro"
HOSTS = {
    # host: (outlet, scenario)
    "host-once": (1, "once"),
    "host-budget-1": (2, "budget"),
    "host-budget-2": (3, "budget"),
    "host-dry": (4, "dry"),
    "host-critical": (0, "critical"),  # outlet 0 of the simulated Pro is marked critical
}
DEADLINE = 90.0


def rule(name: str, scenario: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "matchers": ['alertname="HostProbeFailing"', f'scenario="{scenario}"'],
        "action": "dli.outlet_cycle",
        "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
        "dry_run": False,
        "min_firing": "1s",
        "verify_within": "2m",
        **extra,
    }


def exporter_config(dli_url: str, token_file: Path) -> str:
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "1m", "backoff_max": "2s", "jitter": 0.0},
            "targets": [
                {
                    "source": "dli",
                    "name": DEVICE,
                    "url": dli_url,
                    "username": DEFAULT_USERNAME,
                    "password": DLI_PASSWORD,
                }
            ],
            "actions": {
                # Short, so only remediation's own guard rails stand between a resend and a second cycle.
                "cooldown": "1ms",
                "tokens": [
                    {
                        "name": "alertmanager",
                        "token_file": str(token_file),
                        "allow": [{"actions": ["dli.outlet_cycle"], "targets": [DEVICE]}],
                    }
                ],
            },
            "remediation": {
                "token": "alertmanager",
                "rules": [
                    rule("cycle-once", "once", budget_per_hour=5),
                    rule("cycle-budget", "budget", budget_per_hour=1),
                    rule("cycle-dry", "dry", dry_run=True),
                    rule("cycle-critical", "critical"),
                ],
            },
        },
        sort_keys=False,
    )


def alertmanager_config(webhook: str, token_file: Path, people: str) -> str:
    return yaml.safe_dump(
        {
            "route": {
                "receiver": "ignore",
                "group_by": ["alertname", "host"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "2s",
                "routes": [
                    {"matchers": ['alertname="HostProbeFailing"'], "receiver": "remediation"},
                    # People's route, by severity as the shipped alertmanager.yml routes: it announces actions.
                    {"matchers": ['severity="warning"'], "receiver": "people"},
                ],
            },
            "receivers": [
                {"name": "ignore"},
                {"name": "people", "webhook_configs": [{"url": people, "send_resolved": False}]},
                {
                    "name": "remediation",
                    "webhook_configs": [
                        {
                            "url": webhook,
                            "send_resolved": True,
                            "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
                        }
                    ],
                },
            ],
        },
        sort_keys=False,
    )


@dataclass
class Rig:
    loop: live.LoopThread
    probes: alerting_stack.ProbeServer
    dli: DliSimulator
    exporter: ExporterProcess
    actions_url: str
    prometheus: live.Prometheus
    alertmanagers: list[live.ChildProcess]
    alertmanager_urls: list[str]
    people: live.WebhookReceiver

    def cycles(self, outlet: int) -> int:
        """Cycle requests the simulator received for `outlet`, from its own request record."""
        stats = live.http("GET", f"{self.dli.url}/_sim/stats").json()
        return int(stats["requests"].get(f"POST /restapi/relay/outlets/{outlet}/cycle/", 0))

    def metrics(self) -> Samples:
        return self.loop.run(self.exporter.metrics())

    def result(self, rule: str, result: str) -> float:
        return value(self.metrics(), "powerstrip_exporter_remediations_total", rule=rule, result=result) or 0.0

    def audit(self) -> list[dict[str, Any]]:
        events = []
        for line in self.exporter.logs().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def diagnostics(self) -> str:
        results = {
            (dict(labels)["rule"], dict(labels)["result"]): v
            for (name, labels), v in self.metrics().items()
            if name == "powerstrip_exporter_remediations_total" and v
        }
        logs = "\n".join(am.logs(1500) for am in self.alertmanagers)
        return f"remediation results: {results}\nexporter log tail:\n{self.exporter.logs()[-3000:]}\n{logs}"

    def wait(self, predicate: Any, what: str) -> Any:
        return live.wait_until(predicate, timeout=DEADLINE, what=what, diagnostics=self.diagnostics)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    opslib.require_binary("prometheus")
    opslib.require_binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("remediation")
    token_file = workdir / "alertmanager-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    with contextlib.ExitStack() as cleanup:
        loop = live.LoopThread().start()
        cleanup.callback(loop.stop)
        labels = {h: {"pdu": DEVICE, "outlet": str(o), "scenario": sc} for h, (o, sc) in HOSTS.items()}
        probes = alerting_stack.probe_server(loop, cleanup, labels)
        dli = alerting_stack.dli_unit(loop, cleanup, DLI_PASSWORD)
        people = loop.run(live.WebhookReceiver().start())
        cleanup.callback(lambda: loop.run(people.stop()))

        exporter_dir = workdir / "exporter"
        exporter_dir.mkdir()
        actions_port = free_port()
        exporter = ExporterProcess(
            exporter_dir,
            exporter_config(dli.url, token_file),
            args=["--web.actions-listen-address", f"127.0.0.1:{actions_port}", "--log.format", "json"],
            env=live.CHECKOUT_ENV,
        )
        cleanup.callback(lambda: loop.run(exporter.stop()))
        loop.run(exporter.__aenter__(), timeout=40)
        loop.run(exporter.wait_for_sample("dli_outlet_info", None, device=DEVICE, outlet="7"), timeout=40)
        actions_url = f"http://127.0.0.1:{actions_port}"

        config = alertmanager_config(f"{actions_url}/api/v1/remediation/alertmanager", token_file, people.url)
        pair = alerting_stack.alertmanager_pair(workdir, config, cleanup)
        alertmanagers = pair.processes
        scrape = {"blackbox": [f"127.0.0.1:{probes.port}"], "powerstrip": [f"127.0.0.1:{exporter.port}"]}
        # The shipped alerts (remediation's included), every `for` 1s, beside the probe alert.
        prometheus, prom = alerting_stack.prometheus(workdir, scrape, pair, alerting_stack.PROBE_RULES, cleanup)
        rig = Rig(loop, probes, dli, exporter, actions_url, prom, alertmanagers, pair.urls, people)

        def scraped() -> bool:
            for proc in (prometheus, *alertmanagers):
                proc.check_running()
            return live.reachable(f"{prom.url}/-/ready") and bool(prom.query('probe_success{host="host-once"}'))

        live.wait_until(scraped, timeout=60, what="prometheus scraping the probes", diagnostics=prometheus.logs)
        yield rig

        for proc in (prometheus, *alertmanagers):
            assert proc.stop() == 0, f"{proc.name} did not exit cleanly:\n{proc.logs()}"


def post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        text = err.read()
        with contextlib.suppress(ValueError):
            return err.code, json.loads(text)
        return err.code, {"text": text.decode(errors="replace")}


def test_the_webhook_is_on_the_actions_listener_only(rig: Rig) -> None:
    main = live.http("POST", f"{rig.exporter.url}/api/v1/remediation/alertmanager", form={})
    assert main.status == 404
    hook = live.http("POST", f"{rig.actions_url}/api/v1/remediation/alertmanager", form={})
    assert hook.status == 401  # there, and it wants the token


def test_bad_payloads_through_the_real_listener_call_nothing(rig: Rig) -> None:
    hook = f"{rig.actions_url}/api/v1/remediation/alertmanager"
    before = live.http("GET", f"{rig.dli.url}/_sim/stats").json()["requests"]
    status, body = post(hook, b"{not json")
    assert (status, body["detail"]) == (400, "request body is not valid JSON")
    status, body = post(hook, json.dumps({"version": "3", "status": "firing", "receiver": "x", "alerts": []}).encode())
    assert status == 400 and "version" in body["detail"]
    status, _ = post(hook, b"[" + b" " * (64 * 1024) + b"]")
    assert status == 413
    status, body = post(hook, b"{}", token="some-other-token-entirely")
    assert (status, body["detail"]) == (401, "invalid token")
    cycles = {k: v for k, v in before.items() if "/cycle/" in k}
    after = live.http("GET", f"{rig.dli.url}/_sim/stats").json()["requests"]
    assert {k: v for k, v in after.items() if "/cycle/" in k} == cycles


def test_a_firing_alert_cycles_its_outlet_exactly_once_despite_resends(rig: Rig) -> None:
    outlet, _ = HOSTS["host-once"]
    assert rig.cycles(outlet) == 0
    rig.probes.set("host-once", up=False)
    rig.wait(lambda: rig.cycles(outlet) >= 1, "the outlet to be cycled")
    # Both Alertmanagers resend every repeat_interval; each copy is a duplicate of the decided episode.
    rig.wait(lambda: rig.result("cycle-once", "duplicate") >= 6, "several resends from the HA pair")
    assert rig.cycles(outlet) == 1
    assert rig.result("cycle-once", "acted") == 1
    # Both members of the HA pair delivered notifications of their own.
    for url in rig.alertmanager_urls:
        sent = parse_metrics(live.http("GET", f"{url}/metrics").body.decode())
        assert (value(sent, "alertmanager_notifications_total", integration="webhook") or 0) > 0, url
    # The host comes back: the alert resolves, Alertmanager says so, the remediation is verified.
    rig.probes.set("host-once", up=True)
    rig.wait(lambda: rig.result("cycle-once", "recovered") == 1, "the remediation to be verified")
    assert rig.result("cycle-once", "not_recovered") == 0
    assert rig.cycles(outlet) == 1
    acted = [e for e in rig.audit() if e.get("msg") == "action" and e.get("action") == "dli.outlet_cycle"]
    assert [(e["token"], e["decision"], e["dry_run"]) for e in acted if e["target"] == DEVICE][:1] == [
        ("alertmanager", "allowed", False)
    ]
    assert TOKEN not in rig.exporter.logs()
    # The action is announced to people through their Alertmanager route, by the shipped alert rule.
    rig.wait(
        lambda: rig.people.find("PowerStripExporterRemediationActed", rule="cycle-once"),
        "the shipped acted alert to reach people's receiver",
    )


def test_an_alert_beyond_the_budget_opens_the_breaker_and_cycles_nothing(rig: Rig) -> None:
    first, _ = HOSTS["host-budget-1"]
    second, _ = HOSTS["host-budget-2"]
    rig.probes.set("host-budget-1", up=False)
    rig.wait(lambda: rig.cycles(first) >= 1, "the first outlet to be cycled")
    rig.probes.set("host-budget-2", up=False)
    rig.wait(lambda: rig.result("cycle-budget", "breaker_open") >= 1, "the breaker to open")
    m = rig.metrics()
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="cycle-budget") == 1
    assert value(m, "powerstrip_exporter_remediation_breaker_open", rule="cycle-once") == 0

    def breaker_alert() -> list[dict[str, Any]]:
        return [
            a
            for a in rig.prometheus.alerts()
            if a["labels"].get("alertname") == "PowerStripExporterRemediationBreakerOpen"
            and a["labels"].get("rule") == "cycle-budget"
            and a["state"] == "firing"
        ]

    rig.wait(breaker_alert, "the shipped breaker alert to fire in Prometheus")
    rig.wait(lambda: rig.result("cycle-budget", "duplicate") >= 2, "resends of the refused alert")
    assert rig.cycles(second) == 0
    assert rig.cycles(first) == 1
    for host in ("host-budget-1", "host-budget-2"):
        rig.probes.set(host, up=True)


def test_a_dry_run_rule_reaches_the_device_zero_times(rig: Rig) -> None:
    outlet, _ = HOSTS["host-dry"]
    rig.probes.set("host-dry", up=False)
    rig.wait(lambda: rig.result("cycle-dry", "dry_run") >= 1, "the dry-run decision")
    rig.wait(lambda: rig.result("cycle-dry", "duplicate") >= 2, "resends of the same alert")
    assert rig.cycles(outlet) == 0
    audited = [e for e in rig.audit() if e.get("msg") == "action" and e.get("dry_run") is True]
    assert audited and audited[0]["decision"] == "allowed"
    assert "dry run: would cycle outlet 4 of pro" in audited[0]["detail"]
    assert not rig.people.find("PowerStripExporterRemediationActed", rule="cycle-dry")  # a dry run is no action
    rig.probes.set("host-dry", up=True)


def test_an_alert_for_a_critical_outlet_is_refused_and_audited(rig: Rig) -> None:
    outlet, _ = HOSTS["host-critical"]
    rig.probes.set("host-critical", up=False)
    rig.wait(lambda: rig.result("cycle-critical", "refused") >= 1, "the refusal")
    rig.wait(lambda: rig.result("cycle-critical", "duplicate") >= 2, "resends of the same alert")
    assert rig.cycles(outlet) == 0
    assert rig.result("cycle-critical", "refused") == 1  # decided once, not re-tried on resends
    events = rig.audit()
    [refusal] = [e for e in events if e.get("msg") == "action" and e.get("decision") == "forbidden"]
    assert refusal["detail"] == "protected: outlet 0 of pro is marked critical"
    assert refusal["token"] == "alertmanager"
    decisions = [e["result"] for e in events if e.get("msg") == "remediation" and e.get("rule") == "cycle-critical"]
    assert [d for d in decisions if d != "too_early"] == ["refused"]
    rig.probes.set("host-critical", up=True)


def test_the_remediation_metrics_pass_promtool(rig: Rig) -> None:
    text = live.http("GET", f"{rig.exporter.url}/metrics").body.decode()
    assert "powerstrip_exporter_remediations_total{" in text
    assert "powerstrip_exporter_remediation_breaker_open{" in text
    promtool = opslib.require_binary("promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
