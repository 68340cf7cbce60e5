"""Run a Daemon behind its HTTP listener until SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from exporter.daemon import Daemon
from exporter.web.app import build_app
from exporter.web.listen import parse_listen_address

log = structlog.get_logger("exporter")

STOP_TIMEOUT_SECONDS = 4.0


async def run_daemon(daemon: Daemon, listen_address: str, *, announce: bool = True) -> None:
    """Start polling and serving; returns after a clean stop."""
    host, port = parse_listen_address(listen_address)
    await daemon.start()
    runner = web.AppRunner(build_app(daemon), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(daemon.reload()))
    if announce:
        log.info("listening", address=listen_address, url=f"http://{host or 'localhost'}:{port}/")
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await daemon.stop()
                await runner.cleanup()
        except TimeoutError:
            log.warning("shutdown timed out; exiting anyway")
