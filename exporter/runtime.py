"""Run a Daemon behind its HTTP listener until SIGTERM/SIGINT; SIGHUP reloads."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
from collections.abc import Callable, Sequence

import structlog
from aiohttp import web

from exporter.daemon import Daemon
from exporter.web.app import DEFAULT_TELEMETRY_PATH, build_actions_app, build_app, check_lifecycle_guarded
from exporter.web.limits import HttpLimits, Site, start_site
from exporter.web.listen import listen_url, parse_listen_address

log = structlog.get_logger("exporter")

STOP_TIMEOUT_SECONDS = 4.0


class ListenError(Exception):
    """An address could not be bound; names the address, without a traceback."""

    def __init__(self, address: str, err: OSError) -> None:
        self.address = address
        code = None if isinstance(err, socket.gaierror) else err.errno
        self.reason = os.strerror(code) if code else (err.strerror or str(err))
        super().__init__(f"cannot listen on {address}: {self.reason}")


def bind_address(address: str) -> list[socket.socket]:
    """Bind (not yet listen on) every socket an address stands for, as asyncio's create_server would:
    `:9795` is one IPv4 and one IPv6 socket. Done before anything starts, so a busy port ends the
    start-up with one line, before polling begins or the demo prints a URL."""
    host, port = parse_listen_address(address)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ListenError(address, err) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
    except OSError as err:
        for sock in sockets:
            sock.close()
        raise ListenError(address, err) from None
    return sockets


def _bind_all(addresses: Sequence[str]) -> list[socket.socket]:
    bound: list[socket.socket] = []
    try:
        for address in addresses:
            bound.extend(bind_address(address))
    except ListenError:
        for sock in bound:
            sock.close()
        raise
    return bound


def _close(*groups: Sequence[socket.socket]) -> None:
    for group in groups:
        for sock in group:
            sock.close()


async def _serve(app: web.Application, sockets: Sequence[socket.socket], daemon: Daemon, limits: HttpLimits) -> Site:
    return await start_site(app, sockets, limits, ssl_context=daemon.web.ssl_context)


async def run_daemon(
    daemon: Daemon,
    listen_addresses: Sequence[str],
    *,
    telemetry_path: str = DEFAULT_TELEMETRY_PATH,
    actions_listen_address: str | None = None,
    announce: bool = True,
    on_listening: Callable[[], None] | None = None,
    limits: HttpLimits | None = None,
    enable_lifecycle: bool = False,
) -> None:
    """Start polling and serving, both on this loop; returns after a clean stop.

    `on_listening` runs once every address is bound, so whatever it prints is already reachable.
    """
    main_sockets = _bind_all(listen_addresses)
    try:
        action_sockets = _bind_all([actions_listen_address] if actions_listen_address is not None else [])
    except ListenError:
        for sock in main_sockets:
            sock.close()
        raise
    try:
        await daemon.start()
    except BaseException:
        _close(main_sockets, action_sockets)
        raise
    try:
        if enable_lifecycle:
            check_lifecycle_guarded(daemon)
    except BaseException:
        _close(main_sockets, action_sockets)
        await daemon.stop()
        raise
    loop = asyncio.get_running_loop()
    limits = dataclasses.replace(limits or HttpLimits(), on_drop=daemon.process_metrics.http_connection_dropped)
    runners: list[Site] = []
    try:
        app = build_app(
            daemon,
            with_actions=actions_listen_address is None,
            telemetry_path=telemetry_path,
            body_timeout=limits.body_timeout,
            enable_lifecycle=enable_lifecycle,
        )
        runners.append(await _serve(app, main_sockets, daemon, limits))
        if action_sockets:
            actions_app = build_actions_app(daemon, body_timeout=limits.body_timeout)
            runners.append(await _serve(actions_app, action_sockets, daemon, limits))
    except BaseException:
        await _stop_web(runners)
        await daemon.stop()
        raise
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
                await _stop_web(runners)
                await daemon.stop()
        except TimeoutError:
            log.warning("shutdown timed out; exiting anyway")


async def _stop_web(runners: list[Site]) -> None:
    """Close the listeners first: no request reaches a daemon that is stopping."""
    for runner in runners:
        await runner.close()
