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
from exporter.actions.body import body_of, reads_body
from exporter.config.actions import ActionsConfig
from exporter.metrics.reasons import ActionFailureReason
from exporter.redaction import redact
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


def parse_params(spec: ActionSpec, match_info: Mapping[str, str]) -> dict[str, int | str]:
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
        @reads_body(MAX_BODY_BYTES)
        async def handle(request: web.Request) -> web.Response:
            return await self.handle(spec, request)

        return handle

    def _method_not_allowed(self, spec: ActionSpec) -> Any:
        async def handle(request: web.Request) -> web.Response:
            """Audited and counted like any refusal: a probe with the wrong method is still an attempt."""
            start = time.perf_counter()
            peer = request.remote or "unknown"
            client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)
            target = request.match_info.get(spec.target_param, "")
            detail = f"method {request.method} not allowed; use POST"
            self.metrics.action_attempt(spec.source, spec.action)
            self.metrics.action_failure(spec.source, spec.action, "invalid")
            self._audit(spec, None, client, target, "invalid", detail, None, start, False, peer, status=405)
            body = _body(False, spec, target, detail, None)
            return web.json_response(body, status=405, headers={"Allow": "POST"})

        return handle

    async def handle(self, spec: ActionSpec, request: web.Request) -> web.Response:
        start = time.perf_counter()
        peer = request.remote or "unknown"
        client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)
        target = request.match_info.get(spec.target_param, "")
        caller = _Caller()
        self.metrics.action_attempt(spec.source, spec.action)
        headers: dict[str, str] = {}
        outcome: Outcome | None = None
        dry_run = False
        try:
            dry_run, params = await self._admit(spec, request, client, headers, caller)
            target = str(params[spec.target_param])  # normalised: 0001 and 1 are the same strip
            outcome = await self._execute(spec, params, dry_run, headers)
        except Exception as exc:  # a bug must still answer in the one JSON shape, audited
            err = self._failure(spec, exc)
            if err.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="powerstrip-exporter"'
            detail = redact(err.detail)
            self._audit(
                spec, caller.token, client, target, err.reason, detail, err.upstream_status, start, dry_run, peer,
                status=err.status,
            )  # fmt: skip
            return web.json_response(
                _body(False, spec, target, detail, err.upstream_status), status=err.status, headers=headers
            )
        upstream = outcome.upstream_status
        detail = redact(outcome.detail)
        self._audit(spec, caller.token, client, target, "allowed", detail, upstream, start, dry_run, peer, status=200)
        return web.json_response(_body(True, spec, target, detail, outcome.upstream_status))

    async def act(
        self, spec: ActionSpec, token: Token, params: Mapping[str, int | str], *, dry_run: bool, client: str
    ) -> Outcome:
        """An action on behalf of an already authenticated caller inside the exporter (remediation):
        the same authorization, validation, cooldown, upstream call, metrics and audit as a request.
        Raises ActionError, already counted and audited."""
        start = time.perf_counter()
        target = str(params[spec.target_param])
        self.metrics.action_attempt(spec.source, spec.action)
        try:
            if not token.allows(spec.qualified_name, target):
                raise ActionError(403, "forbidden", f"token {token.name!r} may not {spec.qualified_name} on {target}")
            outcome = await self._execute(spec, params, dry_run, {}, automated=True)
        except Exception as exc:
            err = self._failure(spec, exc)
            upstream = err.upstream_status
            detail = redact(err.detail)
            self._audit(
                spec, token, client, target, err.reason, detail, upstream, start, dry_run, client, status=err.status
            )
            raise err from None
        upstream = outcome.upstream_status
        detail = redact(outcome.detail)
        self._audit(spec, token, client, target, "allowed", detail, upstream, start, dry_run, client, status=200)
        return outcome

    async def _execute(
        self,
        spec: ActionSpec,
        params: Mapping[str, int | str],
        dry_run: bool,
        headers: dict[str, str],
        *,
        automated: bool = False,
    ) -> Outcome:
        """After admission: validate against the snapshot, check the cooldown, then call upstream.
        Automation never touches a target its source marks protected."""
        target = str(params[spec.target_param])
        resolved = spec.resolve(self.env, params)
        if automated and resolved.protected:
            raise ActionError(403, "forbidden", f"protected: {resolved.protected}")
        wait = self.cooldown.remaining(spec.qualified_name, target)
        if wait > 0:
            headers["Retry-After"] = str(max(1, round(wait)))
            raise ActionError(429, "cooldown", f"{spec.action} on {target} is cooling down; retry in {wait:.0f}s")
        if dry_run:
            return Outcome(None, f"dry run: would {resolved.description}")
        self.cooldown.start(spec.qualified_name, target)
        return await self._perform(resolved.perform)

    def _failure(self, spec: ActionSpec, exc: Exception) -> ActionError:
        """Any exception as the ActionError it answers with, counted."""
        if isinstance(exc, ActionError):
            err = exc
        else:
            log.error("action failed unexpectedly", action=spec.qualified_name, exc_info=exc)
            err = ActionError(500, "upstream", "internal error; see the exporter's log")
        self.metrics.action_failure(spec.source, spec.action, err.reason)
        return err

    def authenticate(self, request: web.Request, client: str, headers: dict[str, str]) -> Token:
        """The bearer token of a request, behind the failure limiter (a failure counts against `client`).
        Raises ActionError 429 (with Retry-After in `headers`) or 401; shared with the remediation webhook."""
        blocked = self.limiter.retry_after(client)
        if blocked is not None:
            headers["Retry-After"] = str(max(1, round(blocked)))
            raise ActionError(429, "unauthenticated", "too many failed authentication attempts; try again later")
        try:
            return self.tokens.authenticate(request.headers.get("Authorization"))
        except AuthError as err:
            self.limiter.record(client)
            raise ActionError(401, "unauthenticated", str(err)) from None

    async def _admit(
        self, spec: ActionSpec, request: web.Request, client: str, headers: dict[str, str], caller: _Caller
    ) -> tuple[bool, dict[str, int | str]]:
        """Everything that happens before a target is looked up; no upstream I/O.

        Once the token is known it is kept in `caller`, so a later refusal is audited with its name."""
        if not self.tokens.enabled:
            raise ActionError(403, "forbidden", "actions are disabled: no tokens are configured under actions.tokens")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ActionError(413, "invalid", f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        token = self.authenticate(request, client, headers)
        caller.token = token
        self._check_body(request)
        dry_run = _parse_bool(request.query.get("dry_run", "false"))
        unknown = sorted(set(request.query) - {"dry_run"})
        if unknown:
            raise ActionError(400, "invalid", f"unknown query parameter: {', '.join(unknown)}")
        params = parse_params(spec, request.match_info)
        target = str(params[spec.target_param])
        if not token.allows(spec.qualified_name, target):
            raise ActionError(403, "forbidden", f"token {token.name!r} may not {spec.qualified_name} on {target}")
        return dry_run, params

    @staticmethod
    def _check_body(request: web.Request) -> None:
        """The body as the listener read it (`exporter.actions.body`): at most one byte over the limit."""
        read = body_of(request)
        if read.problem == "too_large":
            raise ActionError(413, "invalid", f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        if read.problem == "timeout":
            raise ActionError(408, "invalid", "the request body did not arrive in time")
        if read.problem is not None:
            raise ActionError(400, "invalid", "could not read the request body")
        body = read.data
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
        *,
        status: int,
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
            status=status,
            dry_run=dry_run,
            detail=redact(detail),
            upstream_status=upstream_status,
            seconds=round(time.perf_counter() - start, 4),
        )


class _Caller:
    """Who is asking, once the bearer token has been checked."""

    __slots__ = ("token",)

    def __init__(self) -> None:
        self.token: Token | None = None


def _body(ok: bool, spec: ActionSpec, target: str, detail: str, upstream_status: int | None) -> dict[str, Any]:
    return {
        "ok": ok,
        "action": spec.qualified_name,
        "target": target,
        "detail": detail,
        "upstream_status": upstream_status,
    }
