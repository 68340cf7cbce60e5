"""/metrics of the real process: process metrics kept current while nothing else changes, client changes
never hidden."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import aiohttp

from tests.core.fake_exporter import ENV, GOOD, FakeExporter
from tests.support.process import parse_metrics, value

FORMS = {
    "plain": {},
    "openmetrics": {"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
    "gzip": {"Accept-Encoding": "gzip"},
    "openmetrics+gzip": {
        "Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "Accept-Encoding": "gzip",
    },
}
TOKEN = "metrics-process-token"
ACTIONS = f"actions:\n  tokens: [{{name: t, token: {TOKEN}, allow: [{{actions: ['*'], targets: ['*']}}]}}]\n"


async def scrape(url: str, headers: dict[str, str]) -> str:
    """One scrape as the given client would see it; gzip decoded here, not by aiohttp."""
    wants_gzip = "Accept-Encoding" in headers
    headers = {"Accept-Encoding": "identity", **headers}
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(f"{url}/metrics", headers=headers) as resp,
    ):
        assert resp.status == 200
        raw = await resp.read()
        assert (resp.headers.get("Content-Encoding") == "gzip") == wants_gzip
        assert resp.headers["Content-Type"].startswith(
            "application/openmetrics-text" if "Accept" in headers else "text/plain"
        )
        text = (gzip.decompress(raw) if wants_gzip else raw).decode()
        assert text.endswith("# EOF\n") == ("Accept" in headers)
        return text.removesuffix("# EOF\n")


async def test_process_metrics_are_current_at_every_scrape_in_every_form(tmp_path: Path) -> None:
    """With one poll an hour nothing else changes, so the body is not rebuilt; the open file
    descriptors must still count the connections opened since the last scrape. The reading is taken
    apart from the scrapes (a thread, once a second), so the scrape's own connection may be in one
    reading and not the next: five held connections show as at least four more."""
    config = "global: {interval: 1h, timeout: 1s, jitter: 0}\ntargets:\n- {source: fake, name: a, devices: 2}\n"
    async with FakeExporter(tmp_path, config, env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        held: list[socket.socket] = []
        try:
            for form, headers in FORMS.items():
                before = value(parse_metrics(await scrape(exp.url, headers)), "process_open_fds") or 0
                held += [socket.create_connection(("127.0.0.1", exp.port)) for _ in range(5)]

                async def counted(headers: dict[str, str] = headers, before: float = before) -> bool:
                    fds = value(parse_metrics(await scrape(exp.url, headers)), "process_open_fds") or 0
                    return fds >= before + 4

                await exp.wait_for(counted, timeout=10, what=f"{form}: 5 more open fds")
        finally:
            for sock in held:
                sock.close()


async def test_an_action_shows_in_the_next_scrape_while_polls_keep_changing_the_body(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, GOOD + ACTIONS, env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        for form, headers in FORMS.items():
            for _ in range(3):
                m = parse_metrics(await scrape(exp.url, headers))
                seen = value(m, "powerstrip_exporter_actions_total", source="fake", action="reboot") or 0
                status, _ = await exp.post(
                    "/api/v1/fake/a-d0/reboot?dry_run=true", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                assert status == 200
                m = parse_metrics(await scrape(exp.url, headers))
                after = value(m, "powerstrip_exporter_actions_total", source="fake", action="reboot")
                assert after == seen + 1, form
