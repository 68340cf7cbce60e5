"""Run a Daemon behind its HTTP listener until SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Sequence

import structlog
from aiohttp import web

from exporter.daemon import Daemon
from exporter.gcpolicy import collect_periodically, settle_heap
from exporter.web.app import DEFAULT_TELEMETRY_PATH, build_actions_app, build_app
from exporter.web.listen import listen_url, parse_listen_address
from exporter.web.thread import WebThread

log = structlog.get_logger("exporter")

STOP_TIMEOUT_SECONDS = 4.0


class ListenError(Exception):
    """An address could not be bound; names the address, without a traceback."""

    def __init__(self, address: str, err: OSError) -> None:
        self.address = address
        # asyncio words bind errors "error while attempting to bind on address (...)"; the errno says it plainly.
        self.reason = os.strerror(err.errno) if err.errno else (err.strerror or str(err))
        super().__init__(f"cannot listen on {address}: {self.reason}")


async def _serve(app: web.Application, addresses: Sequence[str], daemon: Daemon) -> web.AppRunner:
    """One runner for the app, one site per address: all are bound, or none is."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    for address in addresses:
        host, port = parse_listen_address(address)
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=daemon.web.ssl_context)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise ListenError(address, err) from None
    return runner


async def run_daemon(
    daemon: Daemon,
    listen_addresses: Sequence[str],
    *,
    telemetry_path: str = DEFAULT_TELEMETRY_PATH,
    actions_listen_address: str | None = None,
    announce: bool = True,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Start polling and serving; returns after a clean stop.

    Polling runs on this loop; the listeners on the web thread's (see `exporter.web.thread`).
    `on_listening` runs once every address is bound, so whatever it prints is already reachable.
    """
    await daemon.start()
    loop = asyncio.get_running_loop()
    web_thread = WebThread()
    web_thread.start()
    runners: list[web.AppRunner] = []
    try:
        app = build_app(
            daemon, with_actions=actions_listen_address is None, main_loop=loop, telemetry_path=telemetry_path
        )
        runners.append(await web_thread.run(_serve(app, listen_addresses, daemon)))
        if actions_listen_address is not None:
            actions_app = build_actions_app(daemon, main_loop=loop)
            runners.append(await web_thread.run(_serve(actions_app, [actions_listen_address], daemon)))
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
        for address in listen_addresses:
            log.info("listening", address=address, url=listen_url(scheme, address))
        if actions_listen_address:
            log.info(
                "action API listening",
                address=actions_listen_address,
                url=listen_url(scheme, actions_listen_address, "/api/v1/"),
            )
    if on_listening is not None:
        on_listening()
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


async def _stop_web(web_thread: WebThread, runners: list[web.AppRunner]) -> None:
    """Close the listeners first: no request reaches a daemon that is stopping."""
    for runner in runners:
        await web_thread.run(runner.cleanup())
