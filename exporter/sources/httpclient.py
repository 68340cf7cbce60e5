"""Vendor-neutral helpers for source clients: error classification and safe JSON reads."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any

import aiohttp

from exporter.redaction import SECRETS, redact
from exporter.sources.api import PollError

_SNIPPET = 80
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest (decompressed) answer a source reads; a broken or hostile upstream cannot exhaust memory."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_transport_error(exc: BaseException, what: str) -> PollError:
    """Map aiohttp/asyncio failures to the engine's reasons. `what` names the call."""
    if isinstance(exc, PollError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return PollError("timeout", f"{what}: timed out")
    if isinstance(exc, aiohttp.ClientResponseError):
        return PollError("http_status", f"{what}: HTTP {exc.status}")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return PollError("connection", f"{what}: connection dropped ({type(exc).__name__})")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return PollError("connection", redact(f"{what}: {type(exc).__name__}: {exc}"))
    return PollError("bad_response", f"{what}: {type(exc).__name__}")


async def read_limited(resp: aiohttp.ClientResponse, what: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """The response body, or bad_response once it grows past `limit` (after decompression)."""
    if resp.content_length is not None and resp.content_length > limit:
        raise PollError("bad_response", f"{what}: answer of {resp.content_length} bytes exceeds {limit}")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise PollError("bad_response", f"{what}: answer exceeds {limit} bytes")
    return bytes(body)


def snippet(body: bytes) -> str:
    """The start of an upstream body for an error message, redacted before it is cut: a secret
    straddling the cut is still whole (or a piece long enough to be recognised) when redaction runs."""
    head = body[: _SNIPPET + SECRETS.longest].decode("utf-8", "replace").replace("\n", " ").strip()
    text = SECRETS.redact(head)
    cut = len(text) > _SNIPPET or len(body) > _SNIPPET + SECRETS.longest
    return text[:_SNIPPET] + ("..." if cut else "")


def decode_json(body: bytes, content_type: str, what: str) -> Any:
    """Parse a JSON body or fail as bad_response, saying what came instead."""
    if body.lstrip()[:1] == b"<" or "html" in content_type:
        raise PollError("bad_response", f"{what}: expected JSON, got an HTML page: {snippet(body)}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PollError("bad_response", f"{what}: malformed JSON: {snippet(body)}") from None
