"""structlog setup: logfmt or JSON lines on stderr, filtered by level.

Lines read like Prometheus' own: `ts=2024-05-01T12:00:00.123Z level=info logger=exporter msg="listening" ...`,
levels named as `--log.level` names them (`warn`, not `warning`), booleans as `key=true`, and a list of
errors as `"first; second"` rather than a Python list.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Set
from typing import Literal

import structlog
from aiohttp.http_exceptions import HttpProcessingError

from exporter.redaction import redact, redact_whole

LogFormat = Literal["logfmt", "json"]
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class _NamedPrintLogger(structlog.PrintLogger):
    """PrintLogger that remembers the name given to get_logger(), for the `logger` key."""

    def __init__(self, name: str) -> None:
        super().__init__(sys.stderr)
        self.name = name


def _logger_factory(*args: object) -> _NamedPrintLogger:
    return _NamedPrintLogger(str(args[0]) if args else "exporter")


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    if char.isprintable():
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_NEVER_REDACTED = frozenset({"event", "logger", "level", "ts"})
"""Keys whose values the exporter writes itself (a constant message, a module's name): redacting them
would only say whether a secret resembles them, and would blank whole lines."""
_UPSTREAM_TEXT = frozenset({"exception"})
"""A traceback may quote what an upstream sent through a library that nobody redacted."""


def _redact_secrets(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The last guard: no whole registered secret reaches a log line, whoever logged it.

    Values may hold text a caller chose (a request's target, an alert's labels), so only whole
    secrets are replaced there (`redact_whole`): piece matching would tell the caller, through the log,
    whether their text occurs in a secret. Text an upstream sent is piece-redacted where it enters the
    process (the clients, poll errors); only tracebacks, and the messages of other libraries' log
    records, get piece matching here, since nobody redacted them on the way in."""
    foreign = event.get("_from_structlog") is False
    for key, value in event.items():
        if key in _NEVER_REDACTED and not (foreign and key == "event"):
            continue
        pieces = key in _UPSTREAM_TEXT or (foreign and key == "event")
        scrub = redact if pieces else redact_whole
        if isinstance(value, str):
            event[key] = scrub(value)
        elif isinstance(value, list | tuple):
            event[key] = [scrub(item) if isinstance(item, str) else item for item in value]
    return event


def _escape_control_chars(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Keep one event on one line: request data (e.g. an action's target) must not forge log lines.
    Every non-printable character is escaped, not only C0: U+0085 and U+2028 end lines for some readers."""
    for key, value in event.items():
        if isinstance(value, str) and not value.isprintable():
            event[key] = "".join(map(_escaped, value))
    return event


class _DropClientProtocolErrors(logging.Filter):
    """aiohttp logs malformed requests (a client's fault, answered 400) with a traceback; keep those out."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


_OURS = "_powerstrip_exporter_handler"
_LEVEL_NAMES = {"warning": "warn", "critical": "error", "exception": "error"}


def _prometheus_level(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Level names as `--log.level` and Prometheus spell them."""
    level = event.get("level")
    if isinstance(level, str):
        event["level"] = _LEVEL_NAMES.get(level, level)
    return event


def _timestamp(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """RFC 3339 in UTC with milliseconds, as Prometheus writes `ts=`."""
    now = dt.datetime.now(dt.UTC)
    event["ts"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return event


def _join_lists(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """logfmt has no lists: `errors="a; b"` reads better than the repr `"['a', 'b']"`."""
    for key, value in event.items():
        if isinstance(value, list | tuple | Set) and not isinstance(value, str | bytes):
            event[key] = "; ".join(str(item) for item in value)
    return event


def _shared_processors(fmt: LogFormat) -> list[structlog.typing.Processor]:
    return [
        structlog.processors.add_log_level,
        _prometheus_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
        structlog.processors.format_exc_info,
        _redact_secrets,
        structlog.processors.EventRenamer("msg"),
        *([_join_lists] if fmt == "logfmt" else []),
        _escape_control_chars,
    ]


def _renderer(fmt: LogFormat) -> structlog.typing.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.processors.LogfmtRenderer(key_order=["ts", "level", "logger", "msg"], bool_as_flag=False)


def configure_logging(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *_shared_processors(fmt), _renderer(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    # aiohttp's own loggers (access log is off) go through stdlib logging at warning level, in the same format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(fmt),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt)],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(previous)  # configured again (tests, the demo): replace ours, keep anyone else's
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(max(LEVELS[level], logging.WARNING))
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _DropClientProtocolErrors) for f in server_log.filters):
        server_log.addFilter(_DropClientProtocolErrors())
