"""structlog setup: logfmt or JSON lines on stderr, filtered by level."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from aiohttp.http_exceptions import HttpProcessingError

from exporter.redaction import redact

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


def _redact_secrets(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The last guard: no registered secret (or piece of one) reaches a log line, whoever logged it."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
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


class _RedactSecrets(logging.Filter):
    """The same guard for libraries that log through stdlib logging (aiohttp's server errors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.processors.LogfmtRenderer(key_order=["ts", "level", "logger", "event"])
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _redact_secrets,
            _escape_control_chars,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    # aiohttp's own loggers (access log is off) go through stdlib logging at warning level.
    logging.basicConfig(level=max(LEVELS[level], logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s")
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _DropClientProtocolErrors) for f in server_log.filters):
        server_log.addFilter(_DropClientProtocolErrors())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _RedactSecrets) for f in handler.filters):
            handler.addFilter(_RedactSecrets())
