"""The shipped rules, loaded by the live Prometheus, against the untouched demo fleet."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from typing import Any

from tests.e2e import live
from tests.e2e.live import Stack
from tests.ops import opslib
from tests.support.process import find, parse_metrics


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


NOTICE_DAYS = 30
"""powerstrip_threshold:subscription_notice:seconds in rules.yml, in days."""


def _timestamp(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def expected_demo_alerts(stack: Stack) -> set[tuple[str, str]]:
    """What the demo fleet should raise, from the simulator's own state (not from the rules):
    (alert name, powerstrip_id). The DLI units and every exporter target are healthy: nothing for them."""
    sim = stack.cloudtrax

    def read() -> list[tuple[str, bool, bool, bool, bool, dict[str, Any] | None, dict[str, Any] | None]]:
        now = sim.now()
        interval = sim.state.options.checkin_interval_seconds
        return [
            (
                str(s.powerstrip_id),
                s.is_up(),
                s.need_pairing,
                s.last_checkin(now, interval) is not None,
                s.surge_protection_active,
                s.subscription,
                s.lifecycle,
            )
            for s in sim.state.strips.values()
        ]

    now = time.time()
    expected = set()
    for sid, up, pairing, checked_in, surge, subscription, lifecycle in stack.loop.call(read):
        if pairing:
            expected.add(("PowerStripNeedsPairing", sid))  # info, whatever the cloud status
        elif not up:
            # Pages only for a strip that was checking in and stopped; the seed's strip 2
            # (down, last_checkin "") only gets the notice.
            expected.add(("PowerStripCloudDown" if checked_in else "PowerStripNeverCheckedIn", sid))
        if up and not surge:
            expected.add(("PowerStripSurgeProtectionInactive", sid))
        if subscription is not None:
            if subscription.get("is_active") is False:
                expected.add(("PowerStripSubscriptionInactive", sid))
            end = _timestamp(subscription.get("end_date"))
            if end is not None and now < end < now + NOTICE_DAYS * 86400:
                expected.add(("PowerStripSubscriptionEndingSoon", sid))
        end_of_life = _timestamp((lifecycle or {}).get("end_of_life"))
        if end_of_life is not None and end_of_life < now:
            expected.add(("PowerStripEndOfLife", sid))
    return expected


def test_demo_fleet_raises_exactly_the_alerts_it_should(stack: Stack) -> None:
    """The shipped rules, in a real Prometheus scraping the demo: every alert that fires is one the
    fleet's state calls for, and each of those fires. No page for a strip that never checked in."""
    expected = expected_demo_alerts(stack)
    assert ("PowerStripNeverCheckedIn", "2") in expected, "the seed's strip 2 never checked in"
    assert {name for name, _ in expected} >= {"PowerStripCloudDown", "PowerStripNeedsPairing"}

    def firing() -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("powerstrip_id") or a["labels"].get("target", "-"))
            for a in stack.prometheus.alerts()
            if a["state"] == "firing" and a["labels"].get("instance") in {stack.instance, None}
        }

    live.wait_until(
        lambda: firing() == expected,
        timeout=30,
        what=f"exactly these alerts firing: {sorted(expected)}",
        diagnostics=lambda: f"firing: {sorted(firing())}",
    )
    # And it stays so over the next evaluations (every second): nothing that should not fire comes up late.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert firing() == expected
        time.sleep(0.5)
    pages = {sid for name, sid in expected if name == "PowerStripCloudDown"}
    for alert in stack.prometheus.alerts():
        labels = alert["labels"]
        assert "name" not in labels and "label" not in labels, labels  # ids only
        if labels["alertname"] == "PowerStripCloudDown":
            assert labels["severity"] == "critical" and labels["powerstrip_id"] in pages
        elif labels.get("powerstrip_id") == "2":
            assert labels["severity"] != "critical", labels


def test_demo_metrics_pass_promtool_without_fake_readings(stack: Stack) -> None:
    """The whole demo scrape (both sources, every strip state): promtool-clean, the process metrics
    there, no *_created series, and no reading from a strip that is down."""
    promtool = opslib.find_binary("promtool")
    assert promtool, opslib.INSTALL_HINT
    text = stack.loop.run(stack.exporter.metrics_text())
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr
    samples = parse_metrics(text)
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= names
    assert not {n for n in names if n.endswith("_created")}
    assert "powerstrip_exporter_api_requests_total" not in names
    down = stack.loop.call(
        lambda: [str(s.powerstrip_id) for s in stack.cloudtrax.state.strips.values() if not s.is_up()]
    )
    assert down
    for sid in down:
        statuses = find(samples, "cloudtrax_powerstrip_cloud_status_info", powerstrip_id=sid)
        assert [labels["status"] for labels, _ in statuses] == ["down"], sid
        for family in (
            "cloudtrax_powerstrip_voltage_volts",
            "cloudtrax_powerstrip_frequency_hertz",
            "cloudtrax_powerstrip_power_watts",
            "cloudtrax_powerstrip_port_power_watts",
            "cloudtrax_powerstrip_port_current_amperes",
        ):
            assert not find(samples, family, powerstrip_id=sid), f"{family} for down strip {sid}"
        assert find(samples, "cloudtrax_powerstrip_port_enabled", powerstrip_id=sid), sid  # configuration stays
