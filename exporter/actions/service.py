"""The action request pipeline: hygiene, auth, validation, authorization, cooldown, upstream.

Nothing reaches a device or cloud API before the request has been authenticated,
authorized and validated against the latest snapshot.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol

import structlog
from aiohttp import web

from exporter.actions.auth import AuthError, Cooldown, FailureLimiter, Network, Token, TokenStore, client_address
from exporter.config.actions import ActionsConfig
from exporter.metrics.reasons import ActionFailureReason
from exporter.sources.action_api import ActionEnv, ActionError, ActionSpec, Outcome
from exporter.sources.api import PollError

log = structlog.get_logger("exporter.actions")

MAX_BODY_BYTES = 1024
API_PREFIX = "/api/v1"
_INTEGER = re.compile(r"-?[0-9]{1,16}")


class ActionMetrics(Protocol):
    """Where attempts and failures are counted (implemented by ProcessMetrics)."""

    def action_attempt(self, source: str, action: str) -> None: ...

    def action_failure(self, source: str, action: str, reason: ActionFailureReason) -> None: ...


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ActionError(400, "invalid", f"dry_run: expected true or false, got {value!r}")


def _parse_params(spec: ActionSpec, match_info: Mapping[str, str]) -> dict[str, int | str]:
    values: dict[str, int | str] = {}
    for param in spec.params:
        raw = match_info[param.name]
        if param.kind == "integer":
            if not _INTEGER.fullmatch(raw):
                raise ActionError(400, "invalid", f"{param.name}: expected an integer, got {raw!r}")
            number = int(raw)
            if param.minimum is not None and number < param.minimum:
                raise ActionError(400, "invalid", f"{param.name}: must be >= {param.minimum}, got {number}")
            if param.maximum is not None and number > param.maximum:
                raise ActionError(400, "invalid", f"{param.name}: must be <= {param.maximum}, got {number}")
            values[param.name] = number
        else:
            if len(raw) > 128 or not raw.isprintable():
                raise ActionError(400, "invalid", f"{param.name}: not a valid name")
            values[param.name] = raw
    return values


class ActionService:
    def __init__(self, specs: tuple[ActionSpec, ...], env: ActionEnv, metrics: ActionMetrics) -> None:
        self.specs = specs
        self.env = env
        self.metrics = metrics
        self.tokens = TokenStore(ActionsConfig())
        self.cooldown = Cooldown(60.0)
        self.limiter = FailureLimiter(10, 60.0)
        self.trusted_proxies: list[Network] = []
        self.timeout = 15.0

    def configure(self, config: ActionsConfig) -> None:
        """Apply a (re)loaded `actions:` section; cooldown and failure history survive reloads."""
        self.tokens = TokenStore(config)
        self.cooldown.seconds = config.cooldown
        self.limiter.max_failures = config.auth_failures.max_failures
        self.limiter.window = config.auth_failures.window
        self.trusted_proxies = list(config.trusted_proxies)
        self.timeout = config.timeout

    def add_routes(self, app: web.Application) -> None:
        for spec in self.specs:
            path = API_PREFIX + spec.path
            app.router.add_post(path, self._handler(spec))
            app.router.add_route("*", path, self._method_not_allowed(spec))

    def _handler(self, spec: ActionSpec) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return await self.handle(spec, request)

        return handle

    def _method_not_allowed(self, spec: ActionSpec) -> Any:
        async def handle(request: web.Request) -> web.Response:
            target = request.match_info.get(spec.target_param, "")
            body = _body(False, spec, target, f"method {request.method} not allowed; use POST", None)
            return web.json_response(body, status=405, headers={"Allow": "POST"})

        return handle

    async def handle(self, spec: ActionSpec, request: web.Request) -> web.Response:
        start = time.perf_counter()
        peer = request.remote or "unknown"
        client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)
        target = request.match_info.get(spec.target_param, "")
        token: Token | None = None
        self.metrics.action_attempt(spec.source, spec.action)
        headers: dict[str, str] = {}
        outcome: Outcome | None = None
        dry_run = False
        try:
            token, dry_run, params = await self._admit(spec, request, client, headers)
            target = str(params[spec.target_param])  # normalised: 0001 and 1 are the same strip
            resolved = spec.resolve(self.env, params)
            wait = self.cooldown.remaining(spec.qualified_name, target)
            if wait > 0:
                headers["Retry-After"] = str(max(1, round(wait)))
                raise ActionError(429, "cooldown", f"{spec.action} on {target} is cooling down; retry in {wait:.0f}s")
            if dry_run:
                outcome = Outcome(None, f"dry run: would {resolved.description}")
            else:
                self.cooldown.start(spec.qualified_name, target)
                outcome = await self._perform(resolved.perform)
        except Exception as exc:  # a bug must still answer in the one JSON shape, audited
            if isinstance(exc, ActionError):
                err = exc
            else:
                log.error("action failed unexpectedly", action=spec.qualified_name, exc_info=exc)
                err = ActionError(500, "upstream", "internal error; see the exporter's log")
            self.metrics.action_failure(spec.source, spec.action, err.reason)
            if err.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="powerstrip-exporter"'
            self._audit(spec, token, client, target, err.reason, err.detail, err.upstream_status, start, dry_run, peer)
            return web.json_response(
                _body(False, spec, target, err.detail, err.upstream_status), status=err.status, headers=headers
            )
        upstream = outcome.upstream_status
        self._audit(spec, token, client, target, "allowed", outcome.detail, upstream, start, dry_run, peer)
        return web.json_response(_body(True, spec, target, outcome.detail, outcome.upstream_status))

    async def _admit(
        self, spec: ActionSpec, request: web.Request, client: str, headers: dict[str, str]
    ) -> tuple[Token, bool, dict[str, int | str]]:
        """Everything that happens before a target is looked up; no upstream I/O."""
        if not self.tokens.enabled:
            raise ActionError(403, "forbidden", "actions are disabled: no tokens are configured under actions.tokens")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ActionError(413, "invalid", f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        blocked = self.limiter.retry_after(client)
        if blocked is not None:
            headers["Retry-After"] = str(max(1, round(blocked)))
            raise ActionError(429, "unauthenticated", "too many failed authentication attempts; try again later")
        try:
            token = self.tokens.authenticate(request.headers.get("Authorization"))
        except AuthError as err:
            self.limiter.record(client)
            raise ActionError(401, "unauthenticated", str(err)) from None
        await self._check_body(request)
        dry_run = _parse_bool(request.query.get("dry_run", "false"))
        unknown = sorted(set(request.query) - {"dry_run"})
        if unknown:
            raise ActionError(400, "invalid", f"unknown query parameter: {', '.join(unknown)}")
        params = _parse_params(spec, request.match_info)
        target = str(params[spec.target_param])
        if not token.allows(spec.qualified_name, target):
            raise ActionError(403, "forbidden", f"token {token.name!r} may not {spec.qualified_name} on {target}")
        return token, dry_run, params

    async def _check_body(self, request: web.Request) -> None:
        body = b""
        try:
            while len(body) <= MAX_BODY_BYTES:
                chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(body))
                if not chunk:
                    break
                body += chunk
        except (TimeoutError, ConnectionError):
            raise ActionError(400, "invalid", "could not read the request body") from None
        if len(body) > MAX_BODY_BYTES:
            raise ActionError(413, "invalid", f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        if not body.strip():
            return
        if request.content_type != "application/json":
            detail = f"unsupported content type {request.content_type!r}; send JSON or no body"
            raise ActionError(415, "invalid", detail)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ActionError(400, "invalid", "request body is not valid JSON") from None
        if parsed != {}:
            raise ActionError(400, "invalid", "request body must be empty or {}")

    async def _perform(self, perform: Any) -> Outcome:
        try:
            async with asyncio.timeout(self.timeout):
                outcome: Outcome = await perform()
                return outcome
        except ActionError:
            raise
        except TimeoutError:
            raise ActionError(504, "timeout", f"upstream did not answer within {self.timeout:g}s") from None
        except PollError as err:
            if err.reason == "timeout":
                raise ActionError(504, "timeout", str(err)) from None
            raise ActionError(502, "upstream", str(err), err.status) from None

    def _audit(
        self,
        spec: ActionSpec,
        token: Token | None,
        client: str,
        target: str,
        decision: str,
        detail: str,
        upstream_status: int | None,
        start: float,
        dry_run: bool,
        peer: str,
    ) -> None:
        # Behind a trusted proxy the client comes from X-Forwarded-For: the peer that said so is kept too.
        via = {"peer": peer} if peer != client else {}
        log.info(
            "action",
            action=spec.qualified_name,
            target=target,
            token=token.name if token else None,
            client=client,
            **via,
            decision=decision,
            dry_run=dry_run,
            detail=detail,
            upstream_status=upstream_status,
            seconds=round(time.perf_counter() - start, 4),
        )


def _body(ok: bool, spec: ActionSpec, target: str, detail: str, upstream_status: int | None) -> dict[str, Any]:
    return {
        "ok": ok,
        "action": spec.qualified_name,
        "target": target,
        "detail": detail,
        "upstream_status": upstream_status,
    }
