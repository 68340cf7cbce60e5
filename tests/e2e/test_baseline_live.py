"""The shipped rules, loaded by the live Prometheus, against the untouched demo fleet."""

from __future__ import annotations

from typing import Any

from tests.e2e import live
from tests.e2e.live import Stack
from tests.ops import opslib

# Alerts about the exporter itself: none may fire while every target is healthy.
EXPORTER_ALERTS = {
    "PowerStripExporterDown",
    "PowerStripExporterTargetDown",
    "PowerStripExporterTargetAuthFailing",
    "PowerStripExporterActionsFailing",
    "PowerStripExporterActionAuthFailures",
    "PowerStripExporterConfigReloadFailed",
    "PowerStripAlertThresholdsMissing",
}


def test_every_shipped_rule_is_loaded_and_evaluates(stack: Stack) -> None:
    shipped_alerts = {r["alert"]: r for r in opslib.alert_rules()}
    shipped_records = {r["record"] for r in opslib.recording_rules()}

    def evaluated() -> list[dict[str, Any]] | None:
        rules = stack.prometheus.rules()
        return rules if all(r.get("health") != "unknown" for r in rules) else None

    rules = live.wait_until(evaluated, timeout=10, what="every rule evaluated once")
    alerting = {r["name"]: r for r in rules if r["type"] == "alerting"}
    recording = {r["name"] for r in rules if r["type"] == "recording"}
    assert set(alerting) == set(shipped_alerts)
    assert recording == shipped_records
    broken = [f"{r['name']}: {r.get('health')} {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    assert not broken, "rules failing to evaluate on live data:\n" + "\n".join(broken)
    for name, rule in alerting.items():
        # The live copy only shortens `for:`; labels and annotations are the shipped ones.
        assert rule["labels"] == shipped_alerts[name]["labels"], name
        assert rule["annotations"] == shipped_alerts[name]["annotations"], name


def test_demo_fleet_raises_its_alerts_and_no_exporter_alert(stack: Stack) -> None:
    strips = stack.loop.call(
        lambda: [(s.powerstrip_id, s.online, s.need_pairing) for s in stack.cloudtrax.state.strips.values()]
    )
    down = {str(sid) for sid, online, _ in strips if not online}
    pairing = {str(sid) for sid, _, need in strips if need}
    assert down and pairing, "the demo fleet should have strips down and strips needing pairing"

    def firing(name: str, alerts: list[dict[str, Any]]) -> set[str]:
        return {
            a["labels"]["powerstrip_id"]
            for a in alerts
            if a["labels"]["alertname"] == name and a["state"] == "firing" and a["labels"]["instance"] == stack.instance
        }

    def as_expected() -> list[dict[str, Any]] | None:
        alerts = stack.prometheus.alerts()
        ok = firing("PowerStripCloudDown", alerts) == down and firing("PowerStripNeedsPairing", alerts) == pairing
        return alerts if ok else None

    alerts = live.wait_until(
        as_expected,
        timeout=20,
        what=f"PowerStripCloudDown for strips {sorted(down)} and PowerStripNeedsPairing for {sorted(pairing)}",
        diagnostics=lambda: str([(a["labels"], a["state"]) for a in stack.prometheus.alerts()]),
    )
    unexpected = [a["labels"] for a in alerts if a["labels"]["alertname"] in EXPORTER_ALERTS and a["state"] == "firing"]
    assert not unexpected, f"exporter alerts on a healthy fleet: {unexpected}"
