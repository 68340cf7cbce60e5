"""Vendor-neutral helpers for source clients: error classification and safe JSON reads."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aiohttp

from exporter.redaction import SECRETS, redact
from exporter.sources.api import DEFAULT_MAX_ITEMS, PollError

_SNIPPET = 80
_T = TypeVar("_T")
MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest (decompressed) answer a source reads; a broken or hostile upstream cannot exhaust memory.

Decoded JSON takes up to about 21 times its text (`[{},{},...]`: 3 bytes become a 64-byte dict), so
this keeps the worst answer near 170 MB while it is parsed. Real answers are far smaller: a
CloudTrax strip list of a thousand strips is under 1 MB."""

OFF_LOOP_BYTES = 64 * 1024
"""Answers at least this big are decoded and validated in the parser thread, not on the event loop."""

_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="answer-parser")
"""One thread for all big answers: parsing holds the GIL, so more threads would not be faster, and
one at a time bounds the memory of answers being decoded at once, whatever the number of targets."""

MAX_RETRY_AFTER = 86_400.0
"""A Retry-After beyond a day is taken as a day (the engine caps it further at its back-off cap)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as read off the wire: what a vendor client's parsers take."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        # str.isdigit() also accepts "²" or "٣", which HTTP does not; such a header is ignored.
        return min(float(value), MAX_RETRY_AFTER) if value.isascii() else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


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
    # Chunks joined once at the end, not a growing buffer: the answer is copied once, not at each
    # growth step and again at the end, and a refused answer leaves the same small blocks each time.
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PollError("bad_response", f"{what}: answer exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def snippet(body: bytes) -> str:
    """The start of an upstream body for an error message, redacted before it is cut: a secret
    straddling the cut is still whole (or a piece long enough to be recognised) when redaction runs."""
    head = body[: _SNIPPET + SECRETS.longest].decode("utf-8", "replace").replace("\n", " ").strip()
    text = SECRETS.redact(head)
    cut = len(text) > _SNIPPET or len(body) > _SNIPPET + SECRETS.longest
    return text[:_SNIPPET] + ("..." if cut else "")


def load_json(body: bytes, what: str) -> Any:
    """`json.loads`, with every way a hostile body can make it fail turned into bad_response."""
    try:
        return json.loads(body)
    except RecursionError:
        raise PollError("bad_response", f"{what}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        # also integers longer than Python's digit limit
        raise PollError("bad_response", f"{what}: malformed JSON: {snippet(body)}") from None


def check_items(data: Any, limit: int, what: str) -> None:
    """Fail as bad_response if any list or object in `data` holds more than `limit` elements.

    Iterative, so it costs one step per JSON value and never recurses, whatever the nesting.
    """
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if len(value) > limit:
            kind = "an object" if isinstance(value, dict) else "a list"
            raise PollError(
                "bad_response",
                f"{what}: {kind} of {len(value)} elements exceeds max_items_per_answer ({limit})",
            )
        pending.extend(c for c in children if isinstance(c, dict | list))


def decode_json(body: bytes, content_type: str, what: str, max_items: int = DEFAULT_MAX_ITEMS) -> Any:
    """Parse a JSON body or fail as bad_response, saying what came instead."""
    if body.lstrip()[:1] == b"<" or "html" in content_type:
        raise PollError("bad_response", f"{what}: expected JSON, got an HTML page: {snippet(body)}")
    data = load_json(body, what)
    if len(body) > 2 * max_items:  # n elements take at least 2n-1 bytes ("1,1,1"): smaller bodies cannot be over
        check_items(data, max_items, what)
    return data


async def off_loop(size: int, parse: Callable[..., _T], *args: Any) -> _T:
    """Run `parse(*args)` in the parser thread when the answer is `OFF_LOOP_BYTES` or bigger.

    Decoding and validating a big answer takes long enough to stall every other target; small
    answers (nearly all) are cheaper to parse in place than to hand over. A poll that times out
    while its answer still waits for the thread takes the answer out of the queue.
    """
    if size >= OFF_LOOP_BYTES:
        return await asyncio.get_running_loop().run_in_executor(_PARSER, partial(_parse_detached, parse, *args))
    return _parse_detached(parse, *args)


def _parse_detached(parse: Callable[..., _T], *args: Any) -> _T:
    """`parse(*args)`, but a PollError leaves without the frames it was raised in.

    Those frames hold the decoded answer (a 500,000-element list, say), and an error whose traceback or
    context joins a cycle would keep every failed answer alive until the next full collection.
    """
    try:
        return parse(*args)
    except PollError as exc:
        exc.__traceback__ = exc.__context__ = exc.__cause__ = None
        raise exc from None
