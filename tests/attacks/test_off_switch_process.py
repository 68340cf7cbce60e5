"""Attack: switch the exporter off cheaply, through the real process.

- One client floods the listener with idle sockets, opened again as fast as they are closed. It
  used to fill the connection cap (256): scrapes got 0 of 107 answers, the remediation webhook with a
  valid token 0 of 130. Now one client holds at most its share, and everyone else is answered.
- A complete request followed by a partial one in the same packet used to escape the header
  timeout and hold the connection for the 75 s keep-alive.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.attacks.flood import Flood
from tests.core.fake_exporter import FakeExporter
from tests.support.process import value
from tests.support.rawhttp import RawAnswer, exchange, parse_answer, request

DROPPED = "powerstrip_exporter_http_connections_dropped_total"
HOOK = "/api/v1/remediation/alertmanager"
ALERTMANAGER_TOKEN = "alertmanager-token-0123456789"
ATTACKER, PROMETHEUS, ALERTMANAGER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
FLOOD_SOCKETS = 300
"""More than the default cap (256) from the one attacking address."""
ROUNDS = 20
HEADER_TIMEOUT = 2.0
MARGIN = 15.0
"""How much later than the timeout a close may come on a loaded machine; the defect was 75 s."""

CONFIG = f"""\
global: {{interval: 1s, timeout: 1s, jitter: 0}}
targets:
- {{source: fake, name: a, devices: 2, ports: 2}}
actions:
  tokens:
  - name: alertmanager
    token_sha256: {hashlib.sha256(ALERTMANAGER_TOKEN.encode()).hexdigest()}
    allow: [{{actions: [fake.port_reset], targets: ["*"]}}]
remediation:
  token: alertmanager
  rules:
  - name: reset-port
    matchers: ['alertname="PortDown"']
    action: fake.port_reset
    params: {{device: "{{{{ .Labels.device }}}}", port: "{{{{ .Labels.port }}}}"}}
"""
RESOLVED = (
    b'{"version": "4", "status": "resolved", "receiver": "remediation", "groupKey": "{}:{}", "alerts": [{'
    b'"status": "resolved", "labels": {"alertname": "PortDown", "device": "a-d0", "port": "1"}, "annotations": {}, '
    b'"startsAt": "2024-01-01T00:00:00Z", "endsAt": "2024-01-01T00:05:00Z", "fingerprint": "f1"}]}'
)


async def scrape(exp: FakeExporter) -> RawAnswer:
    return await exchange(
        exp.port, request("GET", "/metrics", headers={"Connection": "close"}), source=PROMETHEUS, deadline=MARGIN
    )


async def webhook(exp: FakeExporter) -> RawAnswer:
    headers = {
        "Authorization": f"Bearer {ALERTMANAGER_TOKEN}",
        "Content-Type": "application/json",
        "Connection": "close",
    }
    return await exchange(exp.port, request("POST", HOOK, headers=headers, body=RESOLVED), source=ALERTMANAGER)


async def test_one_client_flooding_idle_sockets_cannot_switch_the_exporter_off(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, CONFIG) as exp:
        assert (await webhook(exp)).status == 200, "the webhook answers before the attack"
        async with Flood(exp.port, ATTACKER, sockets=FLOOD_SOCKETS) as flood:

            async def at_a_cap() -> bool:
                return flood.refused > 0

            await exp.wait_for(at_a_cap, timeout=60, what=f"the flood to reach a cap ({flood.answers})")
            scrapes = [await scrape(exp) for _ in range(ROUNDS)]
            hooks = [await webhook(exp) for _ in range(ROUNDS)]
            held = flood.held
        answered = sum(a.status == 200 for a in scrapes), sum(a.status == 200 and b"decisions" in a.body for a in hooks)
        assert answered == (ROUNDS, ROUNDS), (
            f"scrapes and webhooks answered during the flood: {answered} of {ROUNDS} each; "
            f"refused with {sorted({a.status for a in scrapes + hooks})}; flood {flood.answers}, held {held}"
        )
        assert held <= 32, f"the attacker held {held} connections at once, more than its share"
        assert flood.answers["429"] > 0 and flood.answers["503"] == 0, flood.answers
        samples = await exp.metrics()
        assert (value(samples, DROPPED, reason="too_many_client_connections") or 0) >= flood.answers["429"]
        assert value(samples, DROPPED, reason="too_many_connections") == 0


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[FakeExporter]:
    async with FakeExporter(tmp_path, CONFIG, args=["--web.read-header-timeout", f"{HEADER_TIMEOUT:g}s"]) as exp:
        yield exp


async def _read_answers(reader: asyncio.StreamReader, deadline: float) -> tuple[bytes, float]:
    """Everything until the exporter closes the connection, and when that was (from now)."""
    start = time.monotonic()
    data = b""
    async with asyncio.timeout(deadline):
        while chunk := await reader.read(65536):
            data += chunk
    return data, time.monotonic() - start


@pytest.mark.parametrize(
    "complete",
    [
        request("GET", "/-/healthy"),
        request("POST", HOOK, headers={"Content-Type": "application/json"}, body=RESOLVED),
    ],
    ids=["GET", "POST with a body"],
)
async def test_a_partial_request_pipelined_behind_a_complete_one_is_on_the_clock(
    exporter: FakeExporter, complete: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
    try:
        writer.write(complete + b"GET /-/healthy HTTP/1.1\r\nHo")  # one packet
        await writer.drain()
        try:
            data, seconds = await _read_answers(reader, HEADER_TIMEOUT + MARGIN)
        except TimeoutError:
            pytest.fail(f"the connection was still open {HEADER_TIMEOUT + MARGIN:g}s later")
    finally:
        writer.close()
    first = parse_answer(data, seconds)
    assert first.status in (200, 401, 403), data[:200]
    assert b"HTTP/1.1 408 Request Timeout" in data, data[-200:]
    assert seconds >= HEADER_TIMEOUT * 0.9

    async def counted() -> bool:
        return (value(await exporter.metrics(), DROPPED, reason="header_timeout") or 0) >= 1

    await exporter.wait_for(counted, timeout=MARGIN, what="the header timeout counted")


async def test_a_kept_alive_connection_after_a_request_with_a_body_is_not_cut_at_the_header_timeout(
    exporter: FakeExporter,
) -> None:
    """The clock runs for unfinished heads only: a finished body is a boundary, the connection idles."""
    reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
    try:
        writer.write(request("POST", HOOK, headers={"Content-Type": "application/json"}, body=RESOLVED))
        await writer.drain()
        async with asyncio.timeout(MARGIN):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(parse_answer(head, 0).headers["content-length"])
            await reader.readexactly(length)
        await asyncio.sleep(HEADER_TIMEOUT * 2)  # idle past the header timeout: nothing may happen
        writer.write(request("GET", "/-/healthy"))
        await writer.drain()
        async with asyncio.timeout(MARGIN):
            again = await reader.readuntil(b"Healthy.\n")
    finally:
        writer.close()
    assert again.startswith(b"HTTP/1.1 200"), again
