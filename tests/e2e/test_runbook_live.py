"""Every alert's runbook link, followed through the running exporter: the page it serves at /runbook
has a section for each alert, and the links Prometheus renders into firing alerts open them."""

from __future__ import annotations

import re

from tests.e2e import live
from tests.e2e.live import Stack
from tests.ops import opslib


def served_ids(url: str) -> tuple[str, set[str]]:
    page = live.http("GET", url)
    assert page.status == 200, (url, page.status)
    text = page.body.decode("utf-8")
    return text, set(re.findall(r'\sid="([^"]+)"', text))


def test_every_shipped_alert_links_to_a_section_the_exporter_serves(stack: Stack) -> None:
    for rule in opslib.alert_rules():
        anchor = rule["alert"].lower()
        # Unless rules.yml sets another base, the link is the exporter's own page (the template's else).
        assert rule["annotations"]["runbook_url"] == opslib.runbook_url_template(anchor), rule["alert"]
        _, ids = served_ids(f"http://{stack.instance}/runbook")
        assert anchor in ids, f"/runbook has no section #{anchor}"


def test_links_inside_the_runbook_resolve(stack: Stack) -> None:
    text, ids = served_ids(f"{stack.exporter.url}/runbook")
    hrefs = re.findall(r'href="([^"]+)"', text)
    assert any(h.startswith("#") for h in hrefs)
    for href in hrefs:
        if href.startswith("#"):
            assert href[1:] in ids, href
        elif href.startswith("/"):
            assert live.http("GET", f"{stack.exporter.url}{href}").status == 200, href
        else:
            assert href.startswith("https://"), f"a link that only works in the repository: {href}"


def test_links_prometheus_renders_into_alerts_open_their_section(stack: Stack) -> None:
    def active() -> list[dict[str, str]]:
        return [
            {"alertname": a["labels"]["alertname"], "url": a["annotations"]["runbook_url"]}
            for a in stack.prometheus.alerts()
            if a["labels"].get("instance") == stack.instance
        ]

    alerts = live.wait_until(active, timeout=30, what="the demo fleet's alerts in Prometheus")
    for alert in alerts:
        anchor = alert["alertname"].lower()
        assert alert["url"] == f"http://{stack.instance}/runbook#{anchor}", alert
        _, ids = served_ids(alert["url"].split("#", 1)[0])
        assert anchor in ids, alert
