"""The /runbook page renderer: GitHub's heading anchors, and Markdown that cannot inject HTML."""

from __future__ import annotations

import re

from exporter.web.runbook_page import render, runbook_page
from tests.ops import opslib


def test_headings_get_githubs_anchors_and_repeats_are_numbered() -> None:
    html = render(
        "# Runbook: PowerStrip alerts\n\n## PowerStripCloudDown\n\n"
        "## Time to page, and to resolve\n\n## Time to page, and to resolve\n"
    )
    assert '<h1 id="runbook-powerstrip-alerts">' in html
    assert '<h2 id="powerstripclouddown">' in html
    assert '<h2 id="time-to-page-and-to-resolve">' in html and '<h2 id="time-to-page-and-to-resolve-1">' in html


def test_raw_html_in_the_markdown_is_escaped() -> None:
    html = render(
        'Text <script>alert(1)</script> and <a href="javascript:x">y</a>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n'
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert "<table>" in html


def test_the_shipped_page_has_a_section_per_alert_where_the_repository_has_it() -> None:
    page = runbook_page()
    # The same anchors as the repository's rendering of docs/runbook.md, so one link works in both.
    assert opslib.markdown_anchors(opslib.DOCS_DIR / "runbook.md") <= set(re.findall(r'\sid="([^"]+)"', page))
    for rule in opslib.alert_rules():
        assert f'<h2 id="{rule["alert"].lower()}">' in page
