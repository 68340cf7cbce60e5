"""Every endpoint of the HTTP surface, in-process on a real loopback socket."""

from __future__ import annotations

import gzip
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from exporter.sources.api import PollError
from tests.core import fake_source
from tests.core.conftest import LiveDaemon, eventually
from tests.core.fake_source import script
from tests.support.process import find, value

Live = Callable[..., Awaitable[LiveDaemon]]
DEPLOY = "deploy-token-0123456789"
RELOADER = f"""\
actions:
  tokens:
  - {{name: deploy, token: {DEPLOY}, allow: [{{actions: [exporter.reload], targets: ["*"]}}]}}
  - {{name: ops, token: ops-token-0123456789, allow: [{{actions: ["*"], targets: ["*"]}}]}}
"""
"""A token allowed to reload the config over HTTP, and one allowed every device action but not that."""
CONFIG = (
    """\
global: {interval: 50ms, timeout: 50ms, jitter: 0}
"""
    + RELOADER
    + """\
targets:
- {source: fake, name: a, token: hunter2-secret}
"""
)


async def reload(d: LiveDaemon, token: str = DEPLOY) -> tuple[int, str]:
    return await d.post("/-/reload", headers={"Authorization": f"Bearer {token}"})


async def test_metrics_plain_text(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    status, text, headers = await d.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert "# TYPE fake_device_energy_joules_total counter" in text
    assert re.search(r'^powerstrip_exporter_build_info{branch="[^"]+",build_date="[^"]+",python_version=', text, re.M)
    assert "hunter2" not in text


async def test_metrics_openmetrics_negotiation(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    status, text, headers = await d.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    assert "# TYPE fake_device_energy_joules counter" in text
    assert 'fake_device_energy_joules_total{device="a-d0"}' in text


async def test_metrics_gzip(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    async with d.session.get(d.url + "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await resp.read()).decode()
    assert "powerstrip_exporter_target_up" in body


async def test_healthy(live: Live) -> None:
    d = await live(CONFIG)
    assert (await d.get("/-/healthy"))[:2] == (200, "Healthy.\n")


async def test_landing_page_shows_targets_errors_and_links(live: Live) -> None:
    d = await live(CONFIG + "- {source: fake, name: broken, mode: error}\n")
    await eventually(lambda: script("broken").polls >= 1 and script("a").polls >= 1)
    status, html, headers = await d.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "0.1.0" in html
    assert "<td>broken</td>" in html and "fake: HTTP 500" in html
    assert 'href="/metrics"' in html and 'href="/config"' in html
    assert "hunter2" not in html


async def test_config_endpoint_is_redacted(live: Live, tmp_path: Path) -> None:
    d = await live(CONFIG)
    status, text, _ = await d.get("/config")
    assert status == 200
    assert "token: <secret>" in text
    assert "interval: 50ms" in text
    assert "hunter2" not in text


async def test_reload_adds_removes_and_keeps_targets(live: Live) -> None:
    d = await live(CONFIG + "- {source: fake, name: b}\n")
    await eventually(lambda: script("a").polls >= 3 and script("b").polls >= 1)
    runner_a = d.daemon.engine.groups[("fake", "a")].runners["a"]
    d.daemon.config_path.write_text(CONFIG + "- {source: fake, name: c}\n")
    status, text = await reload(d)
    assert (status, text) == (200, "Config reloaded.\n")
    assert d.daemon.engine.groups[("fake", "a")].runners["a"] is runner_a, "unchanged target keeps its state"
    await eventually(lambda: script("c").polls >= 1, what="added target polls")
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="b") is None
    assert not find(m, "fake_device_value", device="b-d0")
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="c") == 1
    assert value(m, "powerstrip_exporter_config_last_reload_successful") == 1


async def test_target_intervals_follow_reloads_and_removals(live: Live) -> None:
    d = await live(CONFIG + "- {source: fake, name: b, interval: 2s}\n")
    engine = d.daemon.engine
    assert (engine.interval(("fake", "a")), engine.interval(("fake", "b"))) == (0.05, 2.0)
    d.daemon.config_path.write_text(CONFIG.replace("interval: 50ms", "interval: 70ms"))
    status, _ = await reload(d)
    assert status == 200
    assert engine.interval(("fake", "a")) == 0.07, "a changed global interval restarts the target with it"
    assert engine.interval(("fake", "b")) is None and engine.target("fake", "b") is None
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_target_interval_seconds", source="fake", target="a") == 0.07


async def test_discovery_failures_show_in_metrics_and_leave_with_the_group(live: Live) -> None:
    fake_source.DISCOVERY_ERRORS["found"] = PollError("connection", "discovery API unreachable")
    config = (
        "global: {interval: 50ms, timeout: 50ms, jitter: 0, backoff_max: 50ms}\n" + RELOADER + "targets:\n"
        "- {source: fake, name: found, targets: [n1, n2], rediscover: 0.05}\n- {source: fake, name: fixed}\n"
    )
    d = await live(config)
    labels = {"source": "fake", "group": "found"}
    await eventually(lambda: script("fixed").polls >= 1, what="the static target polls")
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_discovery_up", **labels) == 0
    assert value(m, "powerstrip_exporter_discovery_failures_total", reason="connection", **labels) >= 1
    assert value(m, "powerstrip_exporter_discovery_failures_total", reason="auth", **labels) == 0
    assert value(m, "powerstrip_exporter_discovery_up", source="fake", group="fixed") is None, "static: no series"
    status, page, _ = await d.get("/")
    assert status == 200 and "Discovery failing" in page and "discovery API unreachable" in page

    del fake_source.DISCOVERY_ERRORS["found"]
    await eventually(lambda: script("n1").polls >= 1, what="discovered targets poll once discovery recovers")
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_discovery_up", **labels) == 1
    _, page, _ = await d.get("/")
    assert "Discovery failing" not in page

    d.daemon.config_path.write_text(
        "global: {interval: 50ms, timeout: 50ms, jitter: 0}\ntargets: [{source: fake, name: fixed}]\n"
    )
    status, _ = await reload(d)
    assert status == 200
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_discovery_up", **labels) is None
    assert not find(m, "powerstrip_exporter_discovery_failures_total")


async def test_bad_reload_keeps_running_config(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    d.daemon.config_path.write_text("targets: [{source: fake, name: a, interval: soon}]\n")
    status, text = await reload(d)
    assert status == 400
    assert 'targets[0].interval: expected a duration like 30s, got "soon"' in text
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_config_last_reload_successful") == 0
    polls = script("a").polls
    await eventually(lambda: script("a").polls > polls, what="old config still polling")
    status, text, _ = await d.get("/config")
    assert "interval: 50ms" in text


async def test_reload_needs_post(live: Live) -> None:
    d = await live(CONFIG)
    status, _, headers = await d.get("/-/reload")
    assert status == 405 and headers["Allow"] == "POST"


async def test_unknown_path_is_404(live: Live) -> None:
    d = await live(CONFIG)
    assert (await d.get("/nope"))[0] == 404


async def test_http_client_never_awaits_a_device_during_scrape(live: Live) -> None:
    d = await live("global: {interval: 5s, timeout: 5s}\ntargets: [{source: fake, name: stuck, mode: hang}]\n")
    await eventually(lambda: script("stuck").polls >= 1)
    timeout = aiohttp.ClientTimeout(total=2)
    async with d.session.get(d.url + "/metrics", timeout=timeout) as resp:
        assert resp.status == 200
    async with d.session.get(d.url + "/", timeout=timeout) as resp:
        assert "pending" in await resp.text()


async def test_gzip_only_when_accepted(live: Live) -> None:
    from exporter.web.metrics_handler import accepts_gzip

    assert accepts_gzip("gzip") and accepts_gzip("br, gzip;q=0.5") and accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("identity") and not accepts_gzip("")
    d = await live(CONFIG)
    async with d.session.get(
        d.url + "/metrics", headers={"Accept-Encoding": "gzip;q=0"}, auto_decompress=False
    ) as resp:
        assert "Content-Encoding" not in resp.headers
        assert b"powerstrip_exporter_target_up" in await resp.read()


async def test_name_filter_applies_to_every_family(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    status, text, _ = await d.get("/metrics?name[]=powerstrip_exporter_target_polls_total&name[]=fake_device_value")
    assert status == 200
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert names == {"powerstrip_exporter_target_polls_total", "fake_device_value"}


async def test_cross_site_reload_is_refused(live: Live) -> None:
    d = await live(CONFIG)
    bearer = {"Authorization": f"Bearer {DEPLOY}"}
    async with d.session.post(d.url + "/-/reload", headers={"Origin": "https://evil.example", **bearer}) as resp:
        assert resp.status == 403
    async with d.session.post(d.url + "/-/reload", headers={"Sec-Fetch-Site": "cross-site", **bearer}) as resp:
        assert resp.status == 403
    async with d.session.post(d.url + "/-/reload", headers={"Origin": d.url, **bearer}) as resp:
        assert resp.status == 200


async def test_reload_is_off_without_the_lifecycle_flag(live: Live) -> None:
    d = await live(CONFIG, lifecycle=False)
    status, text = await reload(d)
    assert status == 403 and "Lifecycle API is not enabled" in text
    assert value(await d.metrics(), "powerstrip_exporter_config_last_reload_successful") == 1


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "missing bearer token"),
        ({"Authorization": "Bearer not-a-configured-token-0000"}, 401, "invalid token"),
        ({"Authorization": "Bearer ops-token-0123456789"}, 403, "token 'ops' may not exporter.reload"),
    ],
    ids=["anonymous", "unknown token", "token without the reload grant"],
)
async def test_reload_needs_a_token_allowed_to_reload(
    live: Live, headers: dict[str, str], status: int, detail: str
) -> None:
    d = await live(CONFIG)
    d.daemon.config_path.write_text(CONFIG + "- {source: fake, name: c}\n")
    got, text = await d.post("/-/reload", headers=headers)
    assert (got, text) == (status, detail + "\n")
    if status == 401:
        async with d.session.post(d.url + "/-/reload", headers=headers) as resp:
            assert resp.headers["WWW-Authenticate"] == 'Bearer realm="powerstrip-exporter"'
    assert d.daemon.engine.target("fake", "c") is None, "nothing was reloaded"


async def test_a_reload_that_would_remove_every_target_is_refused(live: Live) -> None:
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    for emptied in ("", "global: {interval: 50ms}\ntargets: []\n"):
        d.daemon.config_path.write_text(emptied)
        status, text = await reload(d)
        assert status == 400, text
        assert "the new config has no targets and would remove all 1 running target entries" in text
        assert value(await d.metrics(), "powerstrip_exporter_config_last_reload_successful") == 0
    assert d.daemon.engine.target("fake", "a") is not None, "the running config stays"
    d.daemon.allow_empty_reload = True
    assert (await reload(d))[0] == 200
    assert d.daemon.engine.target("fake", "a") is None


def test_large_bodies_go_out_in_bounded_chunks_in_order() -> None:
    from exporter.web.metrics_handler import CHUNK, chunks

    parts = [b"a" * 10, b"b" * (CHUNK * 2 + 7), b"c" * 5, b"d" * (CHUNK - 1), b"e" * 3]
    sent = [bytes(c) for c in chunks(parts)]
    assert b"".join(sent) == b"".join(parts)
    assert all(len(c) <= CHUNK * 2 for c in sent)


async def test_a_body_larger_than_a_slice_streams_whole(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sliced path (bodies over CHUNK), which the small test fleets never reach at the real size."""
    from prometheus_client.parser import text_string_to_metric_families

    from exporter.web import metrics_handler

    monkeypatch.setattr(metrics_handler, "CHUNK", 97)
    d = await live(CONFIG)
    await eventually(lambda: script("a").polls >= 1)
    limit = aiohttp.ClientTimeout(total=10)  # a short body would otherwise wait for bytes that never come
    async with d.session.get(d.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=limit) as resp:
        assert resp.status == 200
        assert "Transfer-Encoding" not in resp.headers and "Content-Encoding" not in resp.headers
        length = int(resp.headers["Content-Length"])
        body = await resp.read()
    assert len(body) == length > 20 * 97
    text = body.decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"fake_device_energy_joules", "powerstrip_exporter_target_up"} <= names
    assert text.endswith("\n")
