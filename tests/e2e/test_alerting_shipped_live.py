"""Every alert family, end to end, with the SHIPPED intervals: 30 s scrapes and evaluations, the shipped
`for:` durations, group_wait and group_interval. Several minutes long by nature, so it is marked
`slow_e2e`: start it first and let the rest of the suite run beside it.

1. A healthy fleet in two countries (120 V and 230 V, CloudTrax and DLI) stays silent for at least
   three evaluations: no alert pending, ever.
2. One fault per family, all at once on different targets; a second strip of an already paging
   network goes down a little later.
3. Each family's alert is notified; its fault is then removed and the resolved notice must follow.
   Nothing else is notified. The time to page and to resolve of each family is printed (the figures
   in docs/runbook.md come from here).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import live
from tests.e2e.shipped_stack import REMEDIATION_RULE, SITE_120, SITE_230, ShippedStack, operator_token, shipped_stack

pytestmark = [pytest.mark.slow_e2e, pytest.mark.timeout(1800)]

DEADLINE = 1200.0
"""Generous bound for the whole fault phase: about 8 minutes on an idle machine."""
HEALTHY_EVALUATIONS = 3


@dataclass
class Family:
    """One family of alerts: the alert that stands for it, how to cause it and how to fix it."""

    name: str
    alert: str
    labels: dict[str, str]
    inject: Callable[[], None]
    fix: Callable[[], None]
    ready: Callable[[], bool] = lambda: True
    """Injected once this holds (the second strip waits for the first to be pending)."""
    faulted_at: float | None = None
    paged_at: float | None = None
    fixed_at: float | None = None
    resolved_at: float | None = None
    page: dict[str, Any] = field(default_factory=dict)

    def timing(self) -> str:
        assert None not in (self.faulted_at, self.paged_at, self.fixed_at, self.resolved_at)
        to_page = self.paged_at - self.faulted_at  # type: ignore[operator]
        to_resolve = self.resolved_at - self.fixed_at  # type: ignore[operator]
        return f"{self.name:<28} {self.alert:<42} page +{to_page:5.0f} s   resolved +{to_resolve:5.0f} s after the fix"


def _parse(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def close_breaker(stack: ShippedStack) -> None:
    """An operator closes the open breaker early, as the runbook says."""
    url = f"{stack.exporters['main'].url}/api/v1/remediation/rules/{REMEDIATION_RULE}/breaker/close"
    request = urllib.request.Request(url, data=b"", method="POST")
    request.add_header("Authorization", f"Bearer {operator_token(stack.token)}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["was_open"] is True


def post_alerts(stack: ShippedStack, outlets: list[int]) -> None:
    """Alertmanager's webhook, as it would call the exporter: one firing alert per outlet of dli-230."""
    starts = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")  # past min_firing
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "remediation",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "E2EHostUnreachable", "pdu": "dli-230", "outlet": str(outlet)},
                "annotations": {},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"{outlet:016x}",
            }
            for outlet in outlets
        ],
    }
    url = f"{stack.exporters['main'].url}/api/v1/remediation/alertmanager"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {stack.token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        decisions = json.loads(response.read())["decisions"]
    assert [d["result"] for d in decisions] == ["dry_run", "breaker_open"], decisions


def families(stack: ShippedStack) -> list[Family]:
    sim = stack.cloudtrax
    first, second, loaded, _ = stack.sites[SITE_120]
    sagging = stack.sites[SITE_230][0]
    port = loaded.ports[0]
    normal = (port.enable, port.load_w, port.power_factor)
    volts = sagging.voltage

    def on_loop(fn: Callable[[], None]) -> Callable[[], None]:
        return lambda: stack.loop.call(fn)

    def overload() -> None:
        port.enable, port.load_w, port.power_factor = True, 1800.0, 0.9  # about 14 A or more on 120 V

    def unload() -> None:
        port.enable, port.load_w, port.power_factor = normal

    def first_pending() -> bool:
        return any(
            a["labels"]["alertname"] == "PowerStripCloudDown"
            and a["labels"].get("powerstrip_id") == str(first.powerstrip_id)
            for a in stack.prometheus.alerts()
        )

    def set_voltage(value: float) -> Callable[[], None]:
        def apply() -> None:
            sagging.voltage = value

        return on_loop(apply)

    def dli_faults(name: str, **faults: Any) -> Callable[[], None]:
        def apply() -> None:
            stack.dli[name].set_faults(**faults)

        return on_loop(apply)

    def stop_victim() -> None:
        stack.loop.run(stack.exporters["victim"].stop())

    def reload(name: str, config: str | None, ok: bool) -> Callable[[], None]:
        def apply() -> None:
            assert stack.reload(name, config) is ok

        return apply

    return [
        Family(
            "strip down",
            "PowerStripCloudDown",
            {"powerstrip_id": str(first.powerstrip_id)},
            on_loop(lambda: sim.set_strip_online(first.powerstrip_id, False)),
            on_loop(lambda: sim.set_strip_online(first.powerstrip_id, True)),
        ),
        Family(
            "second strip, same network",
            "PowerStripCloudDown",
            {"powerstrip_id": str(second.powerstrip_id)},
            on_loop(lambda: sim.set_strip_online(second.powerstrip_id, False)),
            on_loop(lambda: sim.set_strip_online(second.powerstrip_id, True)),
            ready=first_pending,
        ),
        Family(
            "supply voltage (230 V site)",
            "PowerStripVoltageOutOfRange",
            {"powerstrip_id": str(sagging.powerstrip_id)},
            set_voltage(volts * 0.83),
            set_voltage(volts),
        ),
        Family(
            "load",
            "PowerStripPortCurrentNearRating",
            {"powerstrip_id": str(loaded.powerstrip_id), "port": str(port.port_id)},
            on_loop(overload),
            on_loop(unload),
        ),
        Family(
            "DLI outlet",
            "PowerStripDLIOutletPhysicallyOff",
            {"device": "dli-120", "outlet": "1"},
            dli_faults("dli-120", failed_relays=[1]),
            dli_faults("dli-120", failed_relays=None),
        ),
        Family(
            "target down",
            "PowerStripExporterTargetDown",
            {"target": "dli-down"},
            dli_faults("dli-down", http_status=503),
            dli_faults("dli-down", http_status=None),
        ),
        Family(
            "target credentials",
            "PowerStripExporterTargetAuthFailing",
            {"target": "dli-auth"},
            dli_faults("dli-auth", wrong_credentials=True),
            dli_faults("dli-auth", wrong_credentials=False),
        ),
        Family(
            "exporter down",
            "PowerStripExporterDown",
            {"instance": stack.instance("victim")},
            stop_victim,
            lambda: stack.restart("victim"),
        ),
        Family(
            "configuration",
            "PowerStripExporterConfigReloadFailed",
            {"instance": stack.instance("ops")},
            reload("ops", "global:\n  interval: soon\ntargets: []\n", False),
            reload("ops", None, True),
        ),
        Family(
            "remediation",
            "PowerStripExporterRemediationBreakerOpen",
            {"rule": REMEDIATION_RULE},
            lambda: post_alerts(stack, [1, 3]),
            lambda: close_breaker(stack),  # the documented fix; a reload keeps it open
        ),
    ]


def healthy_for_evaluations(stack: ShippedStack, count: int) -> None:
    """Wait for `count` evaluations of every rule group after the fleet was in, with no alert at any time."""
    since = time.time()
    seen: dict[str, set[str]] = {}

    def enough() -> bool:
        assert stack.prometheus.alerts() == [], "an alert is pending or firing on the healthy fleet"
        for group in stack.prometheus.rule_groups():
            evaluated = group["lastEvaluation"]
            if _parse(evaluated) > since:
                seen.setdefault(group["name"], set()).add(evaluated)
        return len(seen) > 0 and all(len(times) >= count for times in seen.values())

    live.wait_until(enough, timeout=count * 30 + 120, interval=2, what=f"{count} evaluations of every rule group")
    rules = stack.prometheus.rules()
    broken = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
    assert not broken, broken
    assert all(r.get("state", "inactive") == "inactive" for r in rules if r["type"] == "alerting")
    # Not pending at any evaluation since Prometheus started, not only when we looked.
    assert stack.prometheus.query("count_over_time(ALERTS[1h])") == []
    assert stack.alertmanager.alerts() == [] and stack.webhook.notifications() == []


def notified(stack: ShippedStack, family: Family, status: str) -> live.Notification | None:
    for note in stack.webhook.notifications():
        for alert in note.alerts(status):
            labels = alert.get("labels", {})
            if labels.get("alertname") == family.alert and all(labels.get(k) == v for k, v in family.labels.items()):
                return note
    return None


def run_faults(stack: ShippedStack, fams: list[Family]) -> None:
    """Inject, and as each page arrives fix it, until every family has been resolved (bounded)."""
    deadline = time.monotonic() + DEADLINE
    for _ in range(int(DEADLINE) + 1):
        for family in fams:
            if family.faulted_at is None and family.ready():
                family.inject()
                family.faulted_at = time.time()
            elif family.faulted_at is not None and family.paged_at is None:
                if (note := notified(stack, family, "firing")) is not None:
                    family.paged_at, family.page = note.received_at, note.payload
                    family.fix()
                    family.fixed_at = time.time()
            elif (
                family.fixed_at is not None
                and family.resolved_at is None
                and (note := notified(stack, family, "resolved")) is not None
            ):
                family.resolved_at = note.received_at
        if all(f.resolved_at is not None for f in fams) or time.monotonic() > deadline:
            break
        stack.prometheus_process.check_running()
        stack.alertmanager_process.check_running()
        time.sleep(1)
    missing = [
        f"{f.name} ({f.alert}): {'not paged' if f.paged_at is None else 'not resolved'}"
        for f in fams
        if f.resolved_at is None
    ]
    assert not missing, (
        f"{missing}\nnotified: {[(n.path, n.payload) for n in stack.webhook.notifications()]}\n{stack.diagnostics()}"
    )


def test_every_alert_family_pages_and_resolves_with_the_shipped_intervals(tmp_path: Path) -> None:
    started = time.monotonic()
    with shipped_stack(tmp_path) as stack:
        healthy_for_evaluations(stack, HEALTHY_EVALUATIONS)

        # The voltage alerts judge each supply against its own nominal, in a real Prometheus.
        def nominals() -> set[tuple[str, str]]:
            main = stack.instance("main")
            strips = stack.prometheus.query(
                f'powerstrip:cloudtrax_powerstrip_voltage_volts:nominal{{instance="{main}"}}'
            )
            buses = stack.prometheus.query(f'bus:dli_bus_voltage_volts:nominal{{instance="{main}",bus="0"}}')
            return {(r["metric"]["network_id"], r["value"][1]) for r in strips} | {
                (r["metric"]["device"], r["value"][1]) for r in buses
            }

        want = {(str(SITE_120), "120"), (str(SITE_230), "230"), ("dli-120", "120"), ("dli-230", "230")}
        live.wait_until(lambda: nominals() == want, timeout=90, interval=2, what=f"nominal voltages {want}")

        fams = families(stack)
        run_faults(stack, fams)
        lines = [f.timing() for f in fams] + [f"wall time of the run: {time.monotonic() - started:.0f} s"]
        live.ALERT_TIMINGS.extend(lines)
        print("\n".join(lines))

        # The right alert and nothing else: every firing notification is one of the families' alerts
        # (the auth fault's PowerStripExporterTargetDown stays inhibited, PowerStripExporterTargetStale silent).
        stray = [
            alert["labels"]
            for note in stack.webhook.notifications()
            for alert in note.alerts("firing")
            if not any(
                alert["labels"].get("alertname") == f.alert
                and all(alert["labels"].get(k) == v for k, v in f.labels.items())
                for f in fams
            )
        ]
        assert not stray, f"notified without a fault of their own: {stray}"

        # Each strip pages on its own: the second strip of the network is a group of its own, not an
        # addition to the first one's group that would wait for its group_interval.
        first, second = fams[0], fams[1]
        assert second.page["groupLabels"].get("powerstrip_id") == second.labels["powerstrip_id"], second.page
        assert [a["labels"]["powerstrip_id"] for a in second.page["alerts"]] == [second.labels["powerstrip_id"]]
        assert first.page["groupLabels"].get("powerstrip_id") == first.labels["powerstrip_id"], first.page

        # Every page links to its section of the runbook its exporter serves.
        for family in fams:
            [alert] = [a for a in family.page["alerts"] if a["labels"]["alertname"] == family.alert]
            url = alert["annotations"]["runbook_url"]
            assert url.endswith(f"/runbook#{family.alert.lower()}"), url
            if family.alert != "PowerStripExporterDown":  # that exporter was down when it paged
                page = live.http("GET", url.split("#")[0])
                assert page.status == 200 and f'id="{family.alert.lower()}"'.encode() in page.body
