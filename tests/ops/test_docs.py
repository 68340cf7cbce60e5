"""docs/dashboards.md names every dashboard, panel and alert as they are shipped."""

from __future__ import annotations

import re
from typing import Any

from tests.ops import opslib

DOC = opslib.DOCS_DIR / "dashboards.md"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_every_dashboard_and_panel_is_named(dashboards: dict[str, dict[str, Any]]) -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    for filename, dash in dashboards.items():
        assert dash["title"] in sections, f"docs/dashboards.md has no section for {dash['title']}"
        section = re.sub(r"\n {2,}", " ", sections[dash["title"]])  # join indented continuation lines
        assert f"`{filename}`" in section and f"`{dash['uid']}`" in section
        for panel in opslib.iter_panels(dash):
            title = panel["title"]
            if panel["type"] == "row":
                assert f"**{title}:**" in section, f"{dash['title']}: row {title}"
            else:
                assert re.search(rf"(?:\*\* |· ){re.escape(title)}(?: ·| \(|\n|$)", section), (
                    f"{dash['title']}: panel {title!r} is not listed"
                )


def test_every_alert_is_in_the_table(alert_rules: list[dict[str, Any]]) -> None:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^\| (PowerStrip\w+) \| (\w+) \| ([^|]+) \|", line):
            rows[m.group(1)] = (m.group(2), m.group(3).strip())
    assert set(rows) == {rule["alert"] for rule in alert_rules}
    for rule in alert_rules:
        severity, for_ = rows[rule["alert"]]
        assert severity == rule["labels"]["severity"], rule["alert"]
        assert for_ == rule.get("for", "-"), rule["alert"]


def test_docs_show_import_and_rule_loading() -> None:
    text = DOC.read_text(encoding="utf-8")
    for needle in (
        "Dashboards → New → Import",
        "/api/dashboards/db",
        "grafana/provisioning/dashboards/powerstrip.yml",
        "rule_files:",
        "promtool test rules alerts_test.yml alerts_thresholds_missing_test.yml",
        "amtool check-config",
        "docker compose up",
    ):
        assert needle in text, needle
