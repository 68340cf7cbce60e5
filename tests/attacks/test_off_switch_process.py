"""Attack: switch the exporter off cheaply, through the real process.

- One client floods the listener with idle sockets, opened again as fast as they are closed. It
  used to fill the connection cap (256): scrapes got 0 of 107 answers, the remediation webhook with a
  valid token 0 of 130. Now one client holds at most its share, and everyone else is answered.
- A complete request followed by a partial one in the same packet used to escape the header
  timeout and hold the connection for the 75 s keep-alive.
- On a TLS listener, sockets that never send a ClientHello were not counted until their handshake
  ended: one client held 2,000 of them at once, about 300 KB each, and a handshake that timed out
  was counted nowhere. Now a connection counts from the moment it is accepted, so one client holds
  at most its share there too, and the header clock closes (and counts) a handshake that never ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme

from tests.attacks.flood import Flood
from tests.core.fake_exporter import FakeExporter
from tests.core.https import write_cert
from tests.support.process import parse_metrics, value
from tests.support.rawhttp import RawAnswer, exchange, parse_answer, request

DROPPED = "powerstrip_exporter_http_connections_dropped_total"
SHARE = "too_many_client_connections"
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


async def tls_scrape(exp: FakeExporter, ctx: ssl.SSLContext, source: str) -> int | None:
    """One scrape over TLS from `source`: its status, or None when closed before or during the handshake."""
    try:
        async with asyncio.timeout(MARGIN):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", exp.port, ssl=ctx, local_addr=(source, 0), server_hostname="127.0.0.1"
            )
            try:
                writer.write(request("GET", "/metrics", headers={"Connection": "close"}))
                data = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    return parse_answer(data, 0.0).status


def tls_exporter(tmp_path: Path, *args: str) -> tuple[FakeExporter, ssl.SSLContext]:
    """The exporter on a TLS listener, and a client context that trusts its certificate."""
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    exp = FakeExporter(
        tmp_path, CONFIG, args=["--web.config.file", str(tmp_path / "web.yml"), *args], wait_healthy=False
    )
    exp.url = f"https://127.0.0.1:{exp.port}"
    return exp, ctx


async def wait_for_dropped(exp: FakeExporter, ctx: ssl.SSLContext, reason: str, expected: int) -> None:
    async def dropped() -> bool:  # the self-metrics are published with the next snapshot
        status, text = await exp.get("/metrics", ssl=ctx)
        return status == 200 and value(parse_metrics(text), DROPPED, reason=reason) == expected

    await exp.wait_for(dropped, timeout=30, what=f"{DROPPED}{{reason={reason}}} == {expected}")


async def test_tls_handshakes_that_never_start_count_against_the_clients_share(tmp_path: Path) -> None:
    """The attacker's sockets never send a ClientHello. Before the fix none of them counted while its
    handshake was pending (up to the header timeout), so none was refused and each held TLS buffers.
    Now the ones beyond the client's share are closed at once, before any handshake, and counted
    once each; the share is given back when they go."""
    share, extra = 8, 4
    # A header (and handshake) timeout longer than the test: what a pending handshake holds, it keeps.
    exp, ctx = tls_exporter(
        tmp_path, "--web.read-header-timeout", "600s", "--web.max-connections-per-client", str(share)
    )
    async with exp:

        async def serving() -> bool:
            return await tls_scrape(exp, ctx, PROMETHEUS) == 200

        await exp.wait_for(serving, timeout=30, what="the TLS listener")
        # Closed sockets do not come back: the counts below are exact.
        async with Flood(exp.port, ATTACKER, sockets=share + extra, reopen_after=3600) as flood:

            async def refused() -> bool:
                return flood.answers["closed"] >= extra

            await exp.wait_for(refused, timeout=60, what=f"the sockets beyond the share closed ({flood.answers})")
            assert await tls_scrape(exp, ctx, ATTACKER) is None, "a handshake beyond the share was let in"
            scrapes = [await tls_scrape(exp, ctx, PROMETHEUS) for _ in range(ROUNDS)]
            assert scrapes.count(200) == ROUNDS, scrapes
            await wait_for_dropped(exp, ctx, SHARE, extra + 1)
            assert flood.answers == {"closed": extra}, flood.answers

        async def share_given_back() -> bool:
            return await tls_scrape(exp, ctx, ATTACKER) == 200

        await exp.wait_for(share_given_back, timeout=30, what="the attacker's share given back")


async def test_failed_and_timed_out_tls_handshakes_give_back_their_share(tmp_path: Path) -> None:
    """Handshakes that fail (plain HTTP on the TLS port) or never end (no ClientHello) hold a share
    only until then; one that runs past the header timeout is closed and counted for
    `header_timeout`, once."""
    share, slow_client = 2, "127.0.0.5"
    args = ["--web.read-header-timeout", f"{HEADER_TIMEOUT:g}s", "--web.max-connections-per-client", str(share)]
    exp, ctx = tls_exporter(tmp_path, *args)
    async with exp:

        def let_in(source: str) -> Callable[[], Awaitable[bool]]:
            async def scraped() -> bool:
                return await tls_scrape(exp, ctx, source) == 200

            return scraped

        await exp.wait_for(let_in(PROMETHEUS), timeout=30, what="the TLS listener")
        for _ in range(3 * share):
            answer = await exchange(exp.port, request("GET", "/metrics"), source=ATTACKER)
            assert answer.status is None, answer
        await exp.wait_for(let_in(ATTACKER), timeout=30, what="the share of failed handshakes given back")
        # Sockets closed do not come back: the counts below are exact.
        async with Flood(exp.port, slow_client, sockets=share, reopen_after=3600) as flood:

            async def timed_out() -> bool:
                return flood.answers["closed"] >= share

            await exp.wait_for(timed_out, timeout=60, what=f"the handshakes timed out ({flood.answers})")
            await wait_for_dropped(exp, ctx, "header_timeout", share)
            assert flood.answers == {"closed": share}, flood.answers
            await exp.wait_for(let_in(slow_client), timeout=30, what="the share of timed-out handshakes given back")
