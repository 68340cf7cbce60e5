"""Attack: change the running exporter without the right, through the real process.

`POST /-/reload` on the scrape listener used to work for anyone who could scrape. Now it is off
unless `--web.enable-lifecycle` is given, and then it needs a basic-auth login of the web config or
a bearer token allowed `exporter.reload`; with neither configured the exporter refuses to start.
SIGHUP keeps working. And a reload whose new config would remove every target (an empty file
included) is refused unless `--config.allow-empty-reload` is given.
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from tests.core.fake_exporter import GOOD, FakeExporter, exited
from tests.core.https import basic
from tests.support.process import value

DEPLOY = "deploy-token-0123456789"
OPS = "ops-token-0123456789abcd"
TOKENS = f"""\
actions:
  tokens:
  - {{name: deploy, token: {DEPLOY}, allow: [{{actions: [exporter.reload], targets: ["*"]}}]}}
  - {{name: ops, token: {OPS}, allow: [{{actions: ["*"], targets: ["*"]}}]}}
"""
PASSWORD = "correct horse battery staple"
RELOADED = "powerstrip_exporter_config_last_reload_successful"
ADDED = "- {source: fake, name: added}\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def reload(exp: FakeExporter, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(exp.url + "/-/reload", headers=headers) as resp:
        return resp.status, await resp.text()


async def has_target(exp: FakeExporter, name: str, headers: dict[str, str] | None = None) -> bool:
    async with aiohttp.ClientSession() as session, session.get(exp.url + "/metrics", headers=headers) as resp:
        text = await resp.text()
    return f'target="{name}"' in text


async def test_reload_is_off_by_default_and_sighup_still_works(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, GOOD + TOKENS) as exp:
        exp.config_path.write_text(GOOD + ADDED)
        for headers in (None, bearer(DEPLOY)):
            status, text = await reload(exp, headers)
            assert status == 403 and "Lifecycle API is not enabled" in text, (status, text)
        assert not await has_target(exp, "added"), "the anonymous request reloaded the config"
        exp.signal(signal.SIGHUP)
        await exp.wait_for(lambda: has_target(exp, "added"), what="SIGHUP reload")


async def test_lifecycle_with_no_way_to_authenticate_refuses_to_start(tmp_path: Path) -> None:
    exp = FakeExporter(tmp_path, GOOD, args=["--web.enable-lifecycle"], wait_healthy=False)
    async with exp:
        await exp.wait_for(lambda: exited(exp), what="exit")
    assert exp.proc is not None and exp.proc.returncode == 1
    logs = exp.logs()
    assert "--web.enable-lifecycle: POST /-/reload must not be open to anyone" in logs
    assert "Traceback" not in logs


async def test_lifecycle_without_basic_auth_needs_a_token_allowed_to_reload(tmp_path: Path) -> None:
    config = GOOD.replace("targets:", TOKENS + "targets:")
    async with FakeExporter(tmp_path, config, args=["--web.enable-lifecycle"]) as exp:
        exp.config_path.write_text(config + ADDED)
        for headers, status in ((None, 401), (bearer("x" * 24), 401), (bearer(OPS), 403)):
            assert (await reload(exp, headers))[0] == status, headers
        assert not await has_target(exp, "added")
        assert await reload(exp, bearer(DEPLOY)) == (200, "Config reloaded.\n")
        # The added target appears once its group has discovered it, after the reload's answer.
        await exp.wait_for(lambda: has_target(exp, "added"), what="the added target")
        assert 'msg="reload requested over HTTP" client=127.0.0.1 token=deploy' in exp.logs()


async def test_lifecycle_behind_basic_auth(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    args = ["--web.enable-lifecycle", "--web.config.file", str(tmp_path / "web.yml")]
    login = basic("prom", PASSWORD)
    async with FakeExporter(tmp_path, GOOD, args=args) as exp:
        exp.config_path.write_text(GOOD + ADDED)
        for headers in (None, basic("prom", "wrong"), bearer(DEPLOY)):
            assert (await reload(exp, headers))[0] == 401, headers
        assert not await has_target(exp, "added", login)
        assert await reload(exp, login) == (200, "Config reloaded.\n")
        await exp.wait_for(lambda: has_target(exp, "added", login), what="the added target")


@pytest.mark.parametrize("emptied", ["", "targets: []\n"], ids=["empty file", "no targets"])
async def test_a_reload_that_would_remove_every_target_is_refused(tmp_path: Path, emptied: str) -> None:
    async with FakeExporter(tmp_path, GOOD) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        exp.config_path.write_text(emptied)
        exp.signal(signal.SIGHUP)
        await exp.wait_for_sample(RELOADED, 0)
        assert 'msg="reload failed, keeping the running config"' in exp.logs()
        assert "the new config has no targets and would remove all 1 running target entries" in exp.logs()
        polls = value(await exp.metrics(), "powerstrip_exporter_target_polls_total", source="fake", target="a") or 0

        async def still_polling() -> bool:
            samples = await exp.metrics()
            return (value(samples, "powerstrip_exporter_target_polls_total", source="fake", target="a") or 0) > polls

        await exp.wait_for(still_polling, what="the running config still polling")


async def test_an_emptying_reload_is_accepted_when_allowed(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, GOOD, args=["--config.allow-empty-reload"]) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        exp.config_path.write_text("")
        exp.signal(signal.SIGHUP)

        async def gone() -> bool:
            return not await has_target(exp, "a")

        await exp.wait_for(gone, what="the targets removed")
        assert value(await exp.metrics(), RELOADED) == 1
