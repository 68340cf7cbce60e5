"""Run a Daemon behind its HTTP listener until SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

import structlog
from aiohttp import web

from exporter.daemon import Daemon
from exporter.gcpolicy import collect_periodically, settle_heap
from exporter.web.app import build_actions_app, build_app
from exporter.web.limits import HttpLimits, Site, start_site
from exporter.web.listen import parse_listen_address
from exporter.web.thread import WebThread

log = structlog.get_logger("exporter")

STOP_TIMEOUT_SECONDS = 4.0


async def _serve(app: web.Application, address: str, daemon: Daemon, limits: HttpLimits) -> Site:
    host, port = parse_listen_address(address)
    return await start_site(app, host, port, limits, ssl_context=daemon.web.ssl_context)


async def run_daemon(
    daemon: Daemon,
    listen_address: str,
    *,
    actions_listen_address: str | None = None,
    announce: bool = True,
    limits: HttpLimits | None = None,
) -> None:
    """Start polling and serving; returns after a clean stop.

    Polling runs on this loop; the listeners on the web thread's (see `exporter.web.thread`).
    """
    await daemon.start()
    loop = asyncio.get_running_loop()
    web_thread = WebThread()
    web_thread.start()

    def dropped(reason: str) -> None:  # listeners run on the web thread; metrics change on this loop
        loop.call_soon_threadsafe(daemon.process_metrics.http_connection_dropped, reason)

    limits = dataclasses.replace(limits or HttpLimits(), on_drop=dropped)
    runners: list[Site] = []
    try:
        with_actions = actions_listen_address is None
        app = build_app(daemon, with_actions=with_actions, main_loop=loop, body_timeout=limits.body_timeout)
        runners.append(await web_thread.run(_serve(app, listen_address, daemon, limits)))
        if actions_listen_address is not None:
            actions_app = build_actions_app(daemon, main_loop=loop, body_timeout=limits.body_timeout)
            runners.append(await web_thread.run(_serve(actions_app, actions_listen_address, daemon, limits)))
    except BaseException:
        await _stop_web(web_thread, runners)
        web_thread.stop()
        await daemon.stop()
        raise
    settle_heap()
    collector = asyncio.create_task(collect_periodically(), name="full garbage collections")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(daemon.reload()))
    if announce:
        scheme = "https" if daemon.web.ssl_context else "http"
        host, port = parse_listen_address(listen_address)
        log.info("listening", address=listen_address, url=f"{scheme}://{host or 'localhost'}:{port}/")
        if actions_listen_address:
            log.info("action API listening", address=actions_listen_address)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await _stop_web(web_thread, runners)
                await daemon.stop()
        except TimeoutError:
            log.warning("shutdown timed out; exiting anyway")
        finally:
            web_thread.stop()
            collector.cancel()


async def _stop_web(web_thread: WebThread, runners: list[Site]) -> None:
    """Close the listeners first: no request reaches a daemon that is stopping."""
    for runner in runners:
        await web_thread.run(runner.close())
