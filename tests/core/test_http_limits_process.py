"""The listener's read timeouts and connection cap, on the real exporter process.

A client that sends half a request and stalls used to keep its connection for minutes. Each test
stalls in a different place and expects the connection closed (with a 408) soon after the configured
header timeout, with a generous margin for a busy machine; `/metrics` answers throughout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.core.fake_exporter import GOOD, FakeExporter
from tests.support.process import value
from tests.support.rawhttp import RawAnswer, exchange, parse_answer, request

DROPPED = "powerstrip_exporter_http_connections_dropped_total"
HEADER_TIMEOUT = 2.0
MARGIN = 15.0
"""How much later than the timeout a close may come on a loaded machine; the defect was minutes."""


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[FakeExporter]:
    args = ["--web.read-header-timeout", f"{HEADER_TIMEOUT:g}s"]
    async with FakeExporter(tmp_path, GOOD, args=args) as exp:
        yield exp


def assert_timed_out(answer: RawAnswer) -> None:
    assert answer.status in (408, None), answer
    assert HEADER_TIMEOUT * 0.9 <= answer.seconds < HEADER_TIMEOUT + MARGIN, answer.seconds


@pytest.mark.parametrize(
    "partial",
    [b"", b"GET /metr", b"GET /metrics HTTP/1.1\r\n", b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: te"],
    ids=["nothing", "half a request line", "request line only", "half the headers"],
)
async def test_stalled_request_is_closed_after_the_header_timeout(exporter: FakeExporter, partial: bytes) -> None:
    stalled = asyncio.create_task(exchange(exporter.port, partial, deadline=HEADER_TIMEOUT + MARGIN))
    status, _ = await exporter.get("/metrics")  # the listener serves others meanwhile
    assert status == 200
    answer = await stalled
    assert_timed_out(answer)
    if answer.status == 408:
        assert answer.headers["connection"] == "close"
    await exporter.wait_for_sample(DROPPED, 1.0, reason="header_timeout")


async def test_slow_drip_of_headers_is_cut_at_the_timeout(exporter: FakeExporter) -> None:
    """Bytes that keep arriving do not extend the deadline: it runs from the first byte."""
    drip = [b"GET /metrics HTTP/1.1\r\n"] + [f"X-Drip-{i}: x\r\n".encode() for i in range(200)]
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
    closed_at: float | None = None

    async def read_all() -> bytes:
        nonlocal closed_at
        data = b""
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionError:
            pass
        closed_at = time.monotonic()
        return data

    reading = asyncio.create_task(read_all())
    try:
        async with asyncio.timeout(HEADER_TIMEOUT + MARGIN):
            for part in drip:
                if reading.done():
                    break
                try:
                    writer.write(part)
                    await writer.drain()
                except ConnectionError:
                    break
                await asyncio.sleep(0.1)
            data = await reading
    finally:
        writer.close()
    assert closed_at is not None
    assert_timed_out(parse_answer(data, closed_at - start))


async def test_next_request_on_a_kept_alive_connection_has_the_same_deadline(exporter: FakeExporter) -> None:
    """The first answer arrives; the second request never completes and the connection is closed."""
    first = request("GET", "/-/healthy")
    reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
    try:
        writer.write(first)
        await writer.drain()
        start = time.monotonic()
        async with asyncio.timeout(MARGIN * 2):
            head = await reader.readuntil(b"Healthy.\n")
            assert head.startswith(b"HTTP/1.1 200")
            writer.write(b"GET /-/healthy HTTP/1.1\r\nHo")
            await writer.drain()
            rest = await reader.read()
        elapsed = time.monotonic() - start
    finally:
        writer.close()
    assert rest == b"" or parse_answer(rest, 0).status == 408, rest
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + MARGIN


async def test_a_slow_but_timely_client_is_served(exporter: FakeExporter) -> None:
    answer = await exchange(
        exporter.port, b"GET /-/healthy HTTP/1.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n", pause=0.2
    )
    assert answer.status == 200 and answer.body == b"Healthy.\n"


async def test_connections_over_the_cap_are_refused_until_others_go(tmp_path: Path) -> None:
    cap = 4
    args = ["--web.max-connections", str(cap), "--web.read-header-timeout", "60s"]
    async with FakeExporter(tmp_path, GOOD, args=args) as exp:
        held: list[asyncio.StreamWriter] = []
        refused = False
        try:
            # Each held connection completes one request (so it is surely counted) and stays open, idle.
            # The harness's own client may hold one slot too, so the refusal comes at cap or one before.
            # A refused client that has already sent its request may see a reset instead of the 503.
            for _ in range(cap + 1):
                reader, writer = await asyncio.open_connection("127.0.0.1", exp.port)
                writer.write(request("GET", "/-/healthy"))
                try:
                    await writer.drain()
                    async with asyncio.timeout(MARGIN):
                        data = await reader.readuntil(b"\r\n\r\n")
                        await reader.readexactly(len(b"Healthy.\n"))
                except (ConnectionError, asyncio.IncompleteReadError):
                    data = b"HTTP/1.1 503 (reset)"
                if data.startswith(b"HTTP/1.1 503"):
                    refused = True
                    writer.close()
                    break
                assert data.startswith(b"HTTP/1.1 200"), data
                held.append(writer)
            assert refused, f"{len(held)} connections open and none refused"
            assert len(held) in (cap - 1, cap)
            # One more that sends nothing reads the whole refusal.
            answer = await exchange(exp.port, deadline=MARGIN)
            assert answer.status == 503, answer
            assert answer.headers["retry-after"] == "1" and answer.body == b"too many connections\n"
        finally:
            for writer in held:
                writer.close()

        async def metrics_answer() -> bool:
            answer = await exchange(exp.port, request("GET", "/metrics", headers={"Connection": "close"}))
            return answer.status == 200

        await exp.wait_for(metrics_answer, timeout=MARGIN, what="/metrics once the held connections closed")

        async def counted() -> bool:
            samples = await exp.metrics()
            return (value(samples, DROPPED, reason="too_many_connections") or 0) >= 2

        await exp.wait_for(counted, timeout=MARGIN, what="refusals counted")
        assert value(await exp.metrics(), DROPPED, reason="header_timeout") == 0.0
