"""The landing page's rows of what each target holds, rendered from target states (the running
process is tested in tests/cloudtrax/test_landing_process.py): everything from upstream is
escaped, redacted and cut, and what needs attention comes first."""

from __future__ import annotations

from exporter.engine.state import TargetState
from exporter.redaction import register_secret
from exporter.sources.api import Component
from exporter.web.landing import NAME_LIMIT, render_landing

SECRET = "s3cr3t-landing-9f8e7d6c"


def state(*components: Component) -> TargetState:
    return TargetState("vendor", "t<1>", up=True, attempted=True, components=components)


def test_upstream_text_is_escaped_redacted_and_cut() -> None:
    register_secret(SECRET)
    hostile = Component("strip&", "<7>", f"<img src=x> {SECRET}", "<down>", attention=True)
    long = Component("strip&", "8", "n" * (NAME_LIMIT * 50), "up")
    page = render_landing([state(hostile, long)])
    assert "<img" not in page and "<7>" not in page and "<down>" not in page and SECRET not in page
    assert "&lt;img src=x&gt; &lt;redacted&gt;" in page and "&lt;down&gt;" in page and "strip&amp;" in page
    assert "n" * (NAME_LIMIT + 1) not in page and "n" * NAME_LIMIT + "..." in page


def test_attention_first_then_by_number() -> None:
    rows = [Component("outlet", str(i), f"o{i}", "on") for i in (10, 2, 1)]
    rows.append(Component("outlet", "9", "o9", "off", attention=True, parts=(Component("port", "1", "", "on"),)))
    page = render_landing([state(*rows)])
    order = [page.index(f"<td>o{i}</td>") for i in (9, 1, 2, 10)]
    assert order == sorted(order)
    assert "<details open><summary>vendor t&lt;1&gt;: 4 outlets, " in page
    assert '<span class="attention">1 off</span>' in page and 'port 1: <span class="state">on</span>' in page


def test_a_target_without_components_shows_no_table() -> None:
    page = render_landing([state()])
    assert "<details" not in page and "What each target holds" not in page
