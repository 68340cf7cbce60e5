"""Alertmanager matchers and the `{{ .Labels.x }}` template subset, including what must be refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.config.alert_matchers import parse_matcher
from exporter.config.label_templates import TemplateError, parse_template


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('alertname="HostDown"', {"alertname": "HostDown"}, True),
        ("alertname=HostDown", {"alertname": "HostDown"}, True),
        ('alertname = "HostDown"', {"alertname": "HostDownX"}, False),
        ('severity!="page"', {"severity": "ticket"}, True),
        ('severity!="page"', {}, True),
        ('pdu=""', {}, True),  # an absent label is ""
        ('pdu!=""', {}, False),
        ('job=~"blackbox"', {"job": "blackbox-icmp"}, False),  # fully anchored
        ('job=~"blackbox.*"', {"job": "blackbox-icmp"}, True),
        ('job=~"a|b"', {"job": "ab"}, False),  # ^(?:a|b)$, not ^a|b$
        ('job!~"blackbox.*"', {"job": "node"}, True),
        ('job!~"blackbox.*"', {"job": "blackbox"}, False),
        ('instance="host \\"a\\""', {"instance": 'host "a"'}, True),
        ('note="line\\nbreak"', {"note": "line\nbreak"}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "expected a matcher"),
        ("alertname", "expected a matcher"),
        ('1abc="x"', "expected a matcher"),
        ('alertname=="x"', "expected a matcher"),
        ('a="x" b="y"', "expected a matcher"),
        ('a="unterminated', "expected a matcher"),
        ('a=~"("', "invalid regular expression"),
        ('a="\\q"', "unknown escape"),
        ("{alertname=x}", "expected a matcher"),
    ],
)
def test_bad_matchers_are_refused_with_the_cause(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_matcher(text)


@given(st.text(max_size=40), st.sampled_from(["=", "!=", "=~", "!~"]), st.text(max_size=40))
def test_matcher_parser_only_ever_raises_value_error(name: str, op: str, value: str) -> None:
    with contextlib.suppress(ValueError):
        parse_matcher(f"{name}{op}{value}")


@given(st.text(max_size=40))
def test_quoted_values_round_trip_and_match_exactly(value: str) -> None:
    matcher = parse_matcher(f'x="{_escape(value)}"')
    assert matcher.value == value
    assert parse_matcher(str(matcher)) == matcher
    assert matcher.matches({"x": value})
    assert not matcher.matches({"x": value + "-"})


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@pytest.mark.parametrize(
    ("source", "labels", "rendered"),
    [
        ("{{ .Labels.pdu }}", {"pdu": "rack1-pdu"}, "rack1-pdu"),
        ("{{.Labels.pdu}}", {"pdu": "p"}, "p"),
        ("pdu-{{ .Labels.rack }}-{{ .Labels.side }}", {"rack": "3", "side": "a"}, "pdu-3-a"),
        ("7", {}, "7"),
    ],
)
def test_templates_copy_labels(source: str, labels: dict[str, str], rendered: str) -> None:
    assert parse_template(source).render(labels) == rendered


@pytest.mark.parametrize(
    "source",
    [
        "{{ .Annotations.pdu }}",
        "{{ .Labels.pdu | upper }}",
        '{{ index .Labels "pdu" }}',
        "{{ .Labels }}",
        '{{ printf "%s" .Labels.pdu }}',
        "{{ .Labels.pdu }",
        "{{ .Labels.pdu }}}}",
        "{{",
        "",
        "{{ .Labels.1x }}",
    ],
)
def test_anything_but_label_references_is_refused(source: str) -> None:
    with pytest.raises(ValueError):
        parse_template(source)


def test_a_missing_or_empty_label_yields_no_target() -> None:
    template = parse_template("{{ .Labels.pdu }}")
    with pytest.raises(TemplateError, match="'pdu' is missing or empty"):
        template.render({})
    with pytest.raises(TemplateError):
        template.render({"pdu": ""})


def test_rendered_values_are_bounded() -> None:
    with pytest.raises(TemplateError, match="more than 128"):
        parse_template("{{ .Labels.pdu }}").render({"pdu": "x" * 200})


@given(st.text(max_size=60), st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4))
def test_template_parser_and_renderer_only_raise_value_error(source: str, labels: dict[str, str]) -> None:
    with contextlib.suppress(ValueError):
        parse_template(source).render(labels)
