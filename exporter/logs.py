"""structlog setup: logfmt or JSON lines on stderr, filtered by level."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["logfmt", "json"]
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class _NamedPrintLogger(structlog.PrintLogger):
    """PrintLogger that remembers the name given to get_logger(), for the `logger` key."""

    def __init__(self, name: str) -> None:
        super().__init__(sys.stderr)
        self.name = name


def _logger_factory(*args: object) -> _NamedPrintLogger:
    return _NamedPrintLogger(str(args[0]) if args else "exporter")


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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    # aiohttp's own loggers (access log is off) go through stdlib logging at warning level.
    logging.basicConfig(level=max(LEVELS[level], logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s")
