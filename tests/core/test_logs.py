"""Logging: one event per line whatever a client sends; level filtering; both formats."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

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
    assert event["msg"] == "shown" and event["level"] == "warn" and event["logger"] == "exporter.test"
    assert event["target"] == "a\\nb"


def test_logfmt_reads_like_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "logfmt")
    structlog.get_logger("exporter.test").warning(
        "reload failed", errors=["targets[0].name: required key missing", "global.interval: bad"], ok=True, tls=False
    )
    line = capsys.readouterr().err.rstrip("\n")
    assert re.fullmatch(
        r'ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=warn logger=exporter\.test msg="reload failed" '
        r'errors="targets\[0\]\.name: required key missing; global\.interval: bad" ok=true tls=false',
        line,
    ), line


def test_stdlib_records_share_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "logfmt")
    logging.getLogger("aiohttp.server").warning("client %s went away", "x\ny")
    line = capsys.readouterr().err
    assert line.count("\n") == 1
    assert " level=warn logger=aiohttp.server msg=" in line and "x\\\\ny" in line


@given(st.lists(st.text(max_size=20), max_size=5))
def test_logfmt_lists_stay_on_one_line(items: list[str]) -> None:
    out = io.StringIO()
    configure_logging("info", "logfmt")
    with contextlib.redirect_stderr(out):
        structlog.get_logger("exporter.test").info("x", errors=items)
    text = out.getvalue()
    assert text.count("\n") == 1 and "['" not in text
