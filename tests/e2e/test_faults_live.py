"""Faults injected in the simulators travel: exporter -> Prometheus alert -> Alertmanager -> webhook.

Each test checks its preconditions first (the alert is not there yet), injects
the fault, follows the alert through every hop with bounded waits, then removes
the fault and waits for the webhook's "resolved" notification, so the shared
stack is healthy again for the next test.
"""

from __future__ import annotations

from typing import Any

from tests.e2e import live
from tests.e2e.live import Stack
from tests.ops import opslib

# About 5 s for a poll, a scrape, two evaluations and a notification at 1 s each, with room for a slow CI machine.
ALERT_TIMEOUT = 45.0


def shipped(alertname: str) -> dict[str, Any]:
    return next(r for r in opslib.alert_rules() if r["alert"] == alertname)


def _matches(labels: dict[str, str], alertname: str, want: dict[str, str]) -> bool:
    return labels.get("alertname") == alertname and all(labels.get(k) == v for k, v in want.items())


def prometheus_alerts(stack: Stack, alertname: str, state: str = "firing", **labels: str) -> list[dict[str, Any]]:
    return [a for a in stack.prometheus.alerts() if a["state"] == state and _matches(a["labels"], alertname, labels)]


def alertmanager_alerts(stack: Stack, alertname: str, **labels: str) -> list[dict[str, Any]]:
    return [a for a in stack.alertmanager.alerts() if _matches(a["labels"], alertname, labels)]


def assert_absent(stack: Stack, alertname: str, **labels: str) -> None:
    pending = [a for a in stack.prometheus.alerts() if _matches(a["labels"], alertname, labels)]
    assert not pending, f"{alertname} {labels} already in Prometheus before the fault: {pending}"
    assert not alertmanager_alerts(stack, alertname, **labels), f"{alertname} {labels} already in Alertmanager"
    assert not stack.webhook.find(alertname, **labels), f"{alertname} {labels} already notified"


def wait_firing(stack: Stack, alertname: str, **labels: str) -> dict[str, Any]:
    [alert] = live.wait_until(
        lambda: prometheus_alerts(stack, alertname, **labels),
        timeout=ALERT_TIMEOUT,
        what=f"{alertname} {labels} firing in Prometheus",
        diagnostics=stack.diagnostics,
    )
    return alert


def wait_in_alertmanager(stack: Stack, alertname: str, state: str, **labels: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [a for a in alertmanager_alerts(stack, alertname, **labels) if a["status"]["state"] == state]

    [alert] = live.wait_until(
        found,
        timeout=ALERT_TIMEOUT,
        what=f"{alertname} {labels} {state} in Alertmanager",
        diagnostics=lambda: f"{stack.alertmanager.alerts()}\n{stack.diagnostics()}",
    )
    return alert


def wait_notified(stack: Stack, alertname: str, status: str, **labels: str) -> tuple[str, dict[str, Any]]:
    hits = live.wait_until(
        lambda: stack.webhook.find(alertname, status, **labels),
        timeout=ALERT_TIMEOUT,
        what=f"webhook notification of {alertname} {labels} {status}",
        diagnostics=lambda: f"{[(n.path, n.payload) for n in stack.webhook.notifications()]}\n{stack.diagnostics()}",
    )
    return hits[-1]


def notification_receiver(stack: Stack, alertname: str, **labels: str) -> set[str]:
    return {
        str(note.payload.get("receiver"))
        for note in stack.webhook.notifications()
        for alert in note.alerts()
        if _matches(alert.get("labels", {}), alertname, labels)
    }


def test_strip_going_down_pages_through_alertmanager(stack: Stack) -> None:
    sim = stack.cloudtrax
    strips = stack.loop.call(
        lambda: [
            (s.powerstrip_id, s.network_id, s.name)
            for s in sim.state.strips.values()
            if s.online and not s.need_pairing
        ]
    )

    # Pick a strip that is up and already has a warning or info alert, to see the shipped inhibition work too.
    def with_lesser_alert() -> list[tuple[int, int, str, str]]:
        lesser = {
            a["labels"]["powerstrip_id"]: a["labels"]["alertname"]
            for a in stack.prometheus.alerts()
            if a["state"] == "firing"
            and a["labels"].get("severity") in {"warning", "info"}
            and "powerstrip_id" in a["labels"]
        }
        return [(sid, nid, name, lesser[str(sid)]) for sid, nid, name in sorted(strips) if str(sid) in lesser]

    [(sid, nid, name, lesser_alert), *_] = live.wait_until(
        with_lesser_alert, timeout=20, what=f"an up strip with a warning or info alert among {strips}"
    )
    strip = {"network_id": str(nid), "powerstrip_id": str(sid)}

    up = stack.prometheus.query(f'cloudtrax_powerstrip_up{{powerstrip_id="{sid}",instance="{stack.instance}"}}')
    assert [s["value"][1] for s in up] == ["1"], up
    assert_absent(stack, "PowerStripCloudDown", **strip)
    assert wait_in_alertmanager(stack, lesser_alert, "active", **strip)

    stack.loop.call(lambda: sim.set_strip_online(sid, False))
    try:
        rule = shipped("PowerStripCloudDown")
        alert = wait_firing(stack, "PowerStripCloudDown", **strip)
        assert alert["labels"]["severity"] == "critical"
        assert "name" not in alert["labels"]  # ids only: the name is in the description
        assert alert["annotations"]["summary"] == rule["annotations"]["summary"]
        assert alert["annotations"]["runbook_url"] == f"http://{stack.instance}/runbook#powerstripclouddown"
        description = alert["annotations"]["description"]
        assert f'Power strip "{name}" (id {sid}, network {nid})' in description, description

        in_am = wait_in_alertmanager(stack, "PowerStripCloudDown", "active", **strip)
        assert [r["name"] for r in in_am["receivers"]] == ["powerstrip-critical"]
        assert in_am["annotations"] == alert["annotations"]

        path, notified = wait_notified(stack, "PowerStripCloudDown", "firing", **strip)
        assert path == "/powerstrip/critical"
        assert notification_receiver(stack, "PowerStripCloudDown", **strip) == {"powerstrip-critical"}
        assert "name" not in notified["labels"]
        assert notified["annotations"]["description"] == description

        # Shipped inhibition: a strip that is down needs no further warnings about itself.
        inhibited = wait_in_alertmanager(stack, lesser_alert, "suppressed", **strip)
        assert inhibited["status"]["inhibitedBy"] == [in_am["fingerprint"]]
    finally:
        stack.loop.call(lambda: sim.set_strip_online(sid, True))

    wait_notified(stack, "PowerStripCloudDown", "resolved", **strip)
    assert not prometheus_alerts(stack, "PowerStripCloudDown", **strip)


def test_dli_auth_failure_reaches_alertmanager_and_the_webhook(stack: Stack) -> None:
    device = "dli-pro"
    sim = stack.dli[device]
    target = {"source": "dli", "target": device}
    up = stack.prometheus.query(f'powerstrip_exporter_target_up{{target="{device}",instance="{stack.instance}"}}')
    assert [s["value"][1] for s in up] == ["1"], up
    for name in ("PowerStripExporterTargetAuthFailing", "PowerStripExporterTargetDown"):
        assert_absent(stack, name, **target)

    stack.loop.call(lambda: sim.set_faults(wrong_credentials=True))
    try:
        auth = wait_firing(stack, "PowerStripExporterTargetAuthFailing", **target)
        rule = shipped("PowerStripExporterTargetAuthFailing")
        assert auth["labels"]["severity"] == "warning"
        assert auth["annotations"]["summary"] == rule["annotations"]["summary"]
        assert (
            auth["annotations"]["runbook_url"] == f"http://{stack.instance}/runbook#powerstripexportertargetauthfailing"
        )
        assert f'The dli target "{device}" of exporter {stack.instance}' in auth["annotations"]["description"]

        down = wait_firing(stack, "PowerStripExporterTargetDown", **target)
        assert down["labels"]["severity"] == "warning"
        # The description asks Prometheus (template `query`) for the most frequent failure reason.
        live.wait_until(
            lambda: (
                "Most frequent failure reason in the last 10 minutes: auth."
                in wait_firing(stack, "PowerStripExporterTargetDown", **target)["annotations"]["description"]
            ),
            timeout=ALERT_TIMEOUT,
            what="PowerStripExporterTargetDown description naming the auth failures",
        )

        in_am = wait_in_alertmanager(stack, "PowerStripExporterTargetAuthFailing", "active", **target)
        assert [r["name"] for r in in_am["receivers"]] == ["powerstrip-warning"]
        path, notified = wait_notified(stack, "PowerStripExporterTargetAuthFailing", "firing", **target)
        assert path == "/powerstrip/warning"
        assert notified["annotations"] == auth["annotations"]

        # Shipped inhibition: bad credentials explain the target being down.
        suppressed = wait_in_alertmanager(stack, "PowerStripExporterTargetDown", "suppressed", **target)
        assert suppressed["status"]["inhibitedBy"] == [in_am["fingerprint"]]
        # A target whose polls fail is PowerStripExporterTargetDown's, not stale, however old its last success.
        assert not [
            a for a in stack.prometheus.alerts() if _matches(a["labels"], "PowerStripExporterTargetStale", target)
        ]
    finally:
        stack.loop.call(sim.clear_faults)

    wait_notified(stack, "PowerStripExporterTargetAuthFailing", "resolved", **target)
    live.wait_until(
        lambda: stack.prometheus.query(
            f'powerstrip_exporter_target_up{{target="{device}",instance="{stack.instance}"}} == 1'
        ),
        timeout=ALERT_TIMEOUT,
        what=f"{device} up again",
    )
