"""The real exporter process: flags, config check, start-up errors, signals, promtool."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.core.fake_exporter import ENV, GOOD, FakeExporter, run_cli
from tests.support.process import ExporterProcess, free_port, value


def test_config_check_ok(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(GOOD)
    result = run_cli("--config.file", str(tmp_path / "c.yml"), "--config.check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'c.yml'}: OK (1 target entries)\n"


def test_config_check_reports_every_error_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("global: {interval: soon}\ntargets: [{source: fake, name: a, bogus: 1}]\n")
    result = run_cli("--config.file", str(path), "--config.check")
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}: invalid configuration:\n"
        '  global.interval: expected a duration like 30s, got "soon"\n'
        "  targets[0].bogus: unknown key\n"
    )
    assert result.stdout == ""


def test_bad_config_at_startup_exits_nonzero_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("targets: [{source: fake, name: a, token: '${POWERSTRIP_UNSET_VAR_X}'}]\n")
    result = run_cli("--config.file", str(path), "--web.listen-address", "127.0.0.1:0")
    assert result.returncode == 1
    assert "targets[0].token: environment variable POWERSTRIP_UNSET_VAR_X is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_listen_address(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(GOOD)
    result = run_cli("--config.file", str(tmp_path / "c.yml"), "--web.listen-address", "localhost")
    assert result.returncode == 2
    assert "invalid listen address 'localhost'" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_within_five_seconds_while_a_poll_hangs(tmp_path: Path, sig: int) -> None:
    config = "global: {interval: 1m, timeout: 1m}\ntargets: [{source: fake, name: stuck, mode: hang}]\n"
    async with FakeExporter(tmp_path, config, env=ENV) as exp:
        await exp.wait_for(lambda: _pending(exp), what="a poll in progress")
        start = time.monotonic()
        code = await exp.stop(sig, timeout=5.0)
        elapsed = time.monotonic() - start
    assert code == 0, exp.logs()
    assert elapsed < 5.0
    assert "shutting down" in exp.logs()


async def _pending(exp: ExporterProcess) -> bool:
    status, html = await exp.get("/")
    return status == 200 and "pending" in html


async def test_sighup_reloads(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, GOOD, env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        exp.config_path.write_text(GOOD + "- {source: fake, name: b}\n")
        exp.signal(signal.SIGHUP)
        m = await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="b")
        assert value(m, "powerstrip_exporter_config_last_reload_successful") == 1
        exp.config_path.write_text("targets: 5\n")
        exp.signal(signal.SIGHUP)
        await exp.wait_for_sample("powerstrip_exporter_config_last_reload_successful", 0)
        assert "targets: expected a list, got 5" in exp.logs()
        m = await exp.metrics()
        assert value(m, "powerstrip_exporter_target_up", source="fake", target="b") == 1


async def test_live_metrics_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run the README test command, which installs Debian's prometheus"
    async with FakeExporter(tmp_path, GOOD + "- {source: fake, name: down, mode: error}\n", env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        await exp.wait_for_sample("powerstrip_exporter_target_up", 0, source="fake", target="down")
        text = await exp.metrics_text()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


async def test_json_log_format(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, GOOD, env=ENV, args=["--log.format", "json"]) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
    lines = [line for line in exp.logs().splitlines() if line.startswith("{")]
    assert lines, exp.logs()
    events = [json.loads(line) for line in lines]
    assert any(e["msg"] == "listening" for e in events)
    assert all({"ts", "level", "msg"} <= e.keys() for e in events)


async def test_actions_on_their_own_listener(tmp_path: Path) -> None:
    actions_port = free_port()
    config = (
        GOOD
        + "actions:\n  tokens: [{name: t, token: separate-listener-token, allow: [{actions: ['*'], targets: ['*']}]}]\n"
    )
    args = ["--web.actions-listen-address", f"127.0.0.1:{actions_port}"]
    async with FakeExporter(tmp_path, config, env=ENV, args=args) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        status, _ = await exp.post("/api/v1/fake/a-d0/reboot?dry_run=true")
        assert status == 404, "the main listener no longer serves actions"
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{actions_port}"
            async with session.post(
                base + "/api/v1/fake/a-d0/reboot?dry_run=true",
                headers={"Authorization": "Bearer separate-listener-token"},
            ) as resp:
                assert resp.status == 200 and (await resp.json())["ok"] is True
            async with session.get(base + "/metrics") as resp:
                assert resp.status == 404, "the actions listener serves only the action API"
            async with session.get(base + "/-/healthy") as resp:
                assert resp.status == 200


async def test_process_metrics_and_no_created_series(tmp_path: Path) -> None:
    """The standard process_* and python_* metrics are exported, as by every prometheus_client exporter;
    prometheus_client's *_created series and the request counter that repeated the latency histogram's
    _count are not."""
    async with FakeExporter(tmp_path, GOOD, env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        text = await exp.metrics_text()
        m = await exp.metrics()
    started = value(m, "process_start_time_seconds")
    assert started is not None and abs(started - time.time()) < 300
    assert (value(m, "process_resident_memory_bytes") or 0) > 1_000_000
    assert (value(m, "process_open_fds") or 0) >= 3  # stdin/out/err at least, plus the listener
    assert (value(m, "process_max_fds") or 0) >= (value(m, "process_open_fds") or 0)
    assert value(m, "process_cpu_seconds_total") is not None
    for generation in ("0", "1", "2"):
        assert value(m, "python_gc_collections_total", generation=generation) is not None
        assert value(m, "python_gc_objects_collected_total", generation=generation) is not None
        assert value(m, "python_gc_objects_uncollectable_total", generation=generation) is not None
    assert value(m, "python_info", implementation="CPython", version=platform.python_version()) == 1
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert not {n for n in names if n.endswith("_created")}, sorted(names)
    assert "powerstrip_exporter_api_requests_total" not in names
    assert "powerstrip_exporter_api_request_duration_seconds_count" in names


async def test_listeners_and_polls_share_the_main_thread(tmp_path: Path) -> None:
    """One event loop polls and serves: after scrapes of every form, the process runs the main thread
    and the one thread that builds /metrics bodies, nothing else (no listener or process-metrics thread)."""
    async with FakeExporter(tmp_path, GOOD, env=ENV) as exp:
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target="a")
        for headers in ({}, {"Accept": "application/openmetrics-text"}, {"Accept-Encoding": "gzip"}):
            status, _ = await exp.get("/metrics", headers=headers)
            assert status == 200
        assert exp.proc is not None
        threads = len(os.listdir(f"/proc/{exp.proc.pid}/task"))
    assert threads == 2, f"{threads} threads"
