"""Logging: one event per line whatever a client sends; level filtering; both formats."""

from __future__ import annotations

import json

import pytest
import structlog

from exporter.logs import configure_logging


def test_logfmt_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "logfmt")
    structlog.get_logger("exporter.test").info("action", target="evil\nts=forged level=error\r\x00\t")
    err = capsys.readouterr().err
    assert err.count("\n") == 1, "one event, one line"
    assert err.startswith("ts=") and 'target="evil\\\\nts=forged level=error\\\\r\\\\x00\\\\t"' in err


def test_logfmt_escapes_every_line_separator(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "logfmt")
    structlog.get_logger("exporter.test").info("action", target="a\x85b\u2028c\u2029d\U000e0001 ok é")
    err = capsys.readouterr().err
    assert "\x85" not in err and "\u2028" not in err and "\u2029" not in err
    assert "a\\\\x85b\\\\u2028c\\\\u2029d\\\\U000e0001 ok é" in err  # printable text, é included, is kept


def test_json_lines_and_level_filter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warn", "json")
    log = structlog.get_logger("exporter.test")
    log.info("hidden")
    log.warning("shown", target="a\nb")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "shown" and event["level"] == "warning" and event["logger"] == "exporter.test"
    assert event["target"] == "a\\nb"
