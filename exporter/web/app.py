"""aiohttp routes. `/metrics` renders snapshots only; no handler awaits a device."""

from __future__ import annotations

from typing import Any, Protocol

import yaml
from aiohttp import web
from yarl import URL

from exporter.actions.body import body_reader
from exporter.actions.openapi import build_openapi
from exporter.actions.service import ActionService
from exporter.config.loader import Config
from exporter.engine.engine import Engine
from exporter.metrics.body_cache import BodyCache
from exporter.remediation.service import RemediationService
from exporter.web.landing import render_landing
from exporter.web.limits import DEFAULT_BODY_TIMEOUT
from exporter.web.metrics_handler import make_metrics_handler
from exporter.web.security import WebSecurity


class ReloadOutcome(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def messages(self) -> tuple[str, ...]: ...


class Daemon(Protocol):
    """What the HTTP layer serves; `exporter.daemon.Daemon` is one. The daemon sits above this
    layer (it owns the web config), so the web layer names only what it uses."""

    @property
    def web(self) -> WebSecurity: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def bodies(self) -> BodyCache: ...

    @property
    def actions(self) -> ActionService: ...

    @property
    def config(self) -> Config | None: ...

    @property
    def remediation(self) -> RemediationService: ...

    async def reload(self) -> ReloadOutcome: ...


DAEMON_KEY = web.AppKey("daemon", Daemon)
TELEMETRY_PATH_KEY = web.AppKey("telemetry_path", str)
DEFAULT_TELEMETRY_PATH = "/metrics"
RESERVED_PATHS = frozenset({"/", "/config", "/-/healthy", "/-/ready", "/-/reload"})


def _middlewares(daemon: Daemon, body_timeout: float) -> list[Any]:
    """Authentication first; then the body, for the handlers that want one."""
    return [daemon.web.middleware(), body_reader(body_timeout)]


def check_telemetry_path(path: str) -> str:
    """`--web.telemetry-path`: an absolute path that no other page already uses."""
    if not path.startswith("/") or path in RESERVED_PATHS or path.startswith("/api/"):
        raise ValueError(
            f"invalid --web.telemetry-path {path!r}: expected an absolute path such as /metrics, "
            f"not one of {', '.join(sorted(RESERVED_PATHS))} or under /api/"
        )
    return path


def build_app(
    daemon: Daemon,
    *,
    with_actions: bool = True,
    telemetry_path: str = DEFAULT_TELEMETRY_PATH,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> web.Application:
    """The main listener's app; without actions when they have a listener of their own."""
    app = web.Application(client_max_size=64 * 1024, middlewares=_middlewares(daemon, body_timeout))
    app.on_response_prepare.append(daemon.web.add_headers)
    app[DAEMON_KEY] = daemon
    app[TELEMETRY_PATH_KEY] = check_telemetry_path(telemetry_path)
    app.router.add_get(telemetry_path, make_metrics_handler(daemon.bodies))
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", landing)
    app.router.add_get("/config", show_config)
    app.router.add_post("/-/reload", reload)
    if with_actions:
        add_action_routes(app, daemon)
    return app


def build_actions_app(
    daemon: Daemon,
    *,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> web.Application:
    """The app for `--web.actions-listen-address`: the action API and a health check only."""
    app = web.Application(client_max_size=64 * 1024, middlewares=_middlewares(daemon, body_timeout))
    app.on_response_prepare.append(daemon.web.add_headers)
    app[DAEMON_KEY] = daemon
    app.router.add_get("/-/healthy", healthy)
    add_action_routes(app, daemon)
    return app


def add_action_routes(app: web.Application, daemon: Daemon) -> None:
    document = build_openapi(daemon.actions.specs)

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    app.router.add_get("/api/v1/openapi.json", openapi)
    daemon.actions.add_routes(app)
    daemon.remediation.add_routes(app)


async def healthy(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.StreamResponse:
    if request.app[DAEMON_KEY].engine.is_ready():
        return web.Response(text="Ready.\n")
    return web.Response(status=503, text="Not ready: some targets have not finished their first poll.\n")


async def landing(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON_KEY]
    page = render_landing(
        list(daemon.engine.store.states.values()),
        discovery_failures=daemon.engine.discovery_failures(),
        metrics_path=request.app[TELEMETRY_PATH_KEY],
    )
    return web.Response(text=page, content_type="text/html")


async def show_config(request: web.Request) -> web.StreamResponse:
    config = request.app[DAEMON_KEY].config
    data = config.redacted() if config else {}
    return web.Response(text=yaml.safe_dump(data, sort_keys=False), content_type="text/plain")


def _cross_site(request: web.Request) -> bool:
    """A browser request from another site (the reload endpoint must not be a CSRF target)."""
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    return origin is not None and URL(origin).host_port_subcomponent != request.host


async def reload(request: web.Request) -> web.Response:
    if _cross_site(request):
        return web.Response(status=403, text="Cross-site reload requests are refused.\n")
    result = await request.app[DAEMON_KEY].reload()
    if result.ok:
        return web.Response(text="Config reloaded.\n")
    return web.Response(
        status=400, text="Reload failed; the running config is unchanged:\n" + "\n".join(result.messages) + "\n"
    )
