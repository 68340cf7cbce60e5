"""aiohttp routes. `/metrics` renders snapshots only; no handler awaits a device."""

from __future__ import annotations

from typing import Any, Protocol

import structlog
import yaml
from aiohttp import web
from yarl import URL

from exporter.actions.auth import Token
from exporter.actions.body import body_reader
from exporter.actions.openapi import build_openapi
from exporter.actions.service import ActionService
from exporter.config.errors import ConfigError
from exporter.config.loader import Config
from exporter.engine.engine import Engine
from exporter.metrics.body_cache import BodyCache
from exporter.remediation.service import RemediationService
from exporter.sources.action_api import ActionError
from exporter.web.landing import render_landing
from exporter.web.limits import DEFAULT_BODY_TIMEOUT
from exporter.web.metrics_handler import make_metrics_handler
from exporter.web.runbook_page import RUNBOOK_PATH, runbook
from exporter.web.security import USER_KEY, WebSecurity

log = structlog.get_logger("exporter.web")


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
LIFECYCLE_KEY = web.AppKey("lifecycle", bool)
LANDING_LINKS_KEY = web.AppKey("landing_links", tuple[tuple[str, str], ...])
"""Links the landing page adds to its own: the action API's description where this listener serves it."""
OPENAPI_PATH = "/api/v1/openapi.json"
RELOAD_ACTION = "exporter.reload"
"""What an `actions.tokens` allow rule names for its token to reload the config over HTTP. The
wildcard `*` does not include it: `*` grants device actions, and reloading is not one."""
DEFAULT_TELEMETRY_PATH = "/metrics"
RESERVED_PATHS = frozenset({"/", "/config", "/-/healthy", "/-/ready", "/-/reload", RUNBOOK_PATH})


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
    enable_lifecycle: bool = False,
) -> web.Application:
    """The main listener's app; without actions when they have a listener of their own.

    `enable_lifecycle`: `--web.enable-lifecycle`; without it `POST /-/reload` is refused (403).
    """
    app = web.Application(client_max_size=64 * 1024, middlewares=_middlewares(daemon, body_timeout))
    app.on_response_prepare.append(daemon.web.add_headers)
    app[DAEMON_KEY] = daemon
    app[TELEMETRY_PATH_KEY] = check_telemetry_path(telemetry_path)
    app[LIFECYCLE_KEY] = enable_lifecycle
    app[LANDING_LINKS_KEY] = ((OPENAPI_PATH, "Action API description (OpenAPI)"),) if with_actions else ()
    app.router.add_get(telemetry_path, make_metrics_handler(daemon.bodies))
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", landing)
    app.router.add_get("/config", show_config)
    app.router.add_get(RUNBOOK_PATH, runbook)
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

    app.router.add_get(OPENAPI_PATH, openapi)
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
        extra_links=request.app[LANDING_LINKS_KEY],
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


def may_reload(token: Token) -> bool:
    """Whether a bearer token may reload the config: one of its allow rules names `RELOAD_ACTION`."""
    return any(RELOAD_ACTION in rule.actions for rule in token.allow)


def check_lifecycle_guarded(daemon: Daemon) -> None:
    """`--web.enable-lifecycle` needs someone to be allowed in, and no one else: refused otherwise."""
    if daemon.web.config.basic_auth_users or any(may_reload(token) for token in daemon.actions.tokens.tokens):
        return
    raise ConfigError(
        [
            "--web.enable-lifecycle: POST /-/reload must not be open to anyone; set basic_auth_users in "
            f"--web.config.file, or give an actions.tokens entry an allow rule with actions: [{RELOAD_ACTION}]"
        ]
    )


def _reload_caller(request: web.Request, daemon: Daemon) -> tuple[dict[str, str], web.Response | None]:
    """Who asks for the reload (for the audit line), or the refusal to answer with.

    A basic-auth login let in by the middleware is enough; otherwise a bearer token allowed
    `RELOAD_ACTION`, behind the action API's failure limiter."""
    client = daemon.actions.client_of(request)
    user = request.get(USER_KEY)
    if user is not None:
        return {"client": client, "user": user}, None
    headers: dict[str, str] = {}
    try:
        token = daemon.actions.authenticate(request, client, headers)
    except ActionError as err:
        log.debug("reload refused", client=client, status=err.status, detail=err.detail)
        return {}, web.Response(status=err.status, text=f"{err.detail}\n", headers=headers)
    if not may_reload(token):
        log.debug("reload refused", client=client, token=token.name, status=403)
        return {}, web.Response(status=403, text=f"token {token.name!r} may not {RELOAD_ACTION}\n")
    return {"client": client, "token": token.name}, None


async def reload(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    if not request.app[LIFECYCLE_KEY]:
        return web.Response(status=403, text="Lifecycle API is not enabled (--web.enable-lifecycle); use SIGHUP.\n")
    if _cross_site(request):
        return web.Response(status=403, text="Cross-site reload requests are refused.\n")
    caller, refusal = _reload_caller(request, daemon)
    if refusal is not None:
        return refusal
    log.info("reload requested over HTTP", **caller)
    result = await daemon.reload()
    if result.ok:
        return web.Response(text="Config reloaded.\n")
    return web.Response(
        status=400, text="Reload failed; the running config is unchanged:\n" + "\n".join(result.messages) + "\n"
    )
