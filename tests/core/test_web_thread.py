"""The listeners' own loop: thread-safe handlers answer while the main loop is busy; the rest hop to it."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from exporter.actions.body import body_of, body_reader, reads_body
from exporter.web.thread import SWITCH_INTERVAL, WebThread, to_main_loop, web_thread_safe
from tests.core.fake_exporter import ENV, GOOD, FakeExporter
from tests.support.process import free_port


async def test_safe_handlers_answer_while_the_main_loop_is_blocked_and_others_run_on_it() -> None:
    main = asyncio.get_running_loop()
    seen: dict[str, threading.Thread] = {}

    @web_thread_safe
    async def fast(request: web.Request) -> web.StreamResponse:
        seen["fast"] = threading.current_thread()
        return web.Response(text="fast")

    @reads_body(1024)
    async def act(request: web.Request) -> web.StreamResponse:
        # The stream belongs to the web thread's loop: the body was read there, before the hop.
        seen["act"] = threading.current_thread()
        assert asyncio.get_running_loop() is main
        return web.Response(text=body_of(request).data.decode().upper())

    app = web.Application(middlewares=[body_reader(5.0), to_main_loop(main)])
    app.router.add_get("/fast", fast)
    app.router.add_post("/act", act)
    port = free_port()
    thread = WebThread()
    thread.start()
    runner = web.AppRunner(app)
    try:
        await thread.run(runner.setup())
        await thread.run(web.TCPSite(runner, "127.0.0.1", port).start())

        def get(path: str, data: bytes | None = None) -> tuple[str, float]:
            start = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=5) as resp:
                return resp.read().decode(), time.monotonic() - start

        # Block the main loop for 1.5 s; the safe handler must answer meanwhile.
        fetch = asyncio.ensure_future(asyncio.to_thread(get, "/fast"))
        await asyncio.sleep(0)
        started = time.monotonic()
        time.sleep(1.5)  # the main loop is stuck here, as under a long poll step
        blocked_for = time.monotonic() - started
        text, took = await fetch
        assert text == "fast" and seen["fast"].name == "web"
        assert took < blocked_for, "answered while the main loop was blocked"

        text, _ = await asyncio.to_thread(get, "/act", b"body read on the web thread")
        assert text == "BODY READ ON THE WEB THREAD"
        assert seen["act"] is threading.main_thread()
    finally:
        await thread.run(runner.cleanup())
        thread.stop()


@pytest.mark.process
async def test_the_running_exporter_hands_the_gil_to_the_listeners_every_switch_interval(tmp_path: Path) -> None:
    """The interval is set by the daemon's start-up path (runtime -> WebThread.start), not only by the class:
    read from the running process once its listeners answer."""
    report = tmp_path / "switch-interval"
    async with FakeExporter(tmp_path, GOOD, env={**ENV, "SWITCH_REPORT": str(report)}) as exp:
        exp.signal(signal.SIGUSR1)

        async def reported() -> bool:
            return report.exists()

        await exp.wait_for(reported, timeout=20, what="the switch interval report")
        # CPython keeps the interval in whole microseconds (0.0001 reads back as 9.999999999999999e-05).
        assert round(float(report.read_text(encoding="utf-8")) * 1e6) == round(SWITCH_INTERVAL * 1e6)
    assert SWITCH_INTERVAL < 0.005, "shorter than CPython's default, or setting it would change nothing"
