"""The action request pipeline: hygiene, auth, validation, authorization, confirmation, cooldown, upstream.

Nothing reaches a device or cloud API before the request has been authenticated,
authorized and validated against the latest snapshot. Answers and audit lines never repeat
what the caller chose unless it names something the exporter knows.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiohttp import web

from exporter.actions.auth import (
    BEARER_CHALLENGE,
    AuthError,
    Cooldown,
    FailureLimiter,
    Network,
    Token,
    TokenStore,
    Unit,
    client_address,
)
from exporter.actions.body import body_of, reads_body
from exporter.actions.refusals import RefusalLog
from exporter.config.actions import ActionsConfig
from exporter.metrics.reasons import ActionFailureReason
from exporter.redaction import redact, redact_whole
from exporter.sources.action_api import ActionEnv, ActionError, ActionParam, ActionSpec, Outcome
from exporter.sources.api import PollError

log = structlog.get_logger("exporter.actions")

MAX_BODY_BYTES = 1024
API_PREFIX = "/api/v1"
_INTEGER = re.compile(r"-?[0-9]{1,16}")
CONFIRM_CRITICAL = "critical"
"""The value of `?confirm=` that lets a person act on a target marked critical (`Resolved.critical`)."""
QUERY_PARAMS = ("dry_run", "confirm")


class ActionMetrics(Protocol):
    """Where attempts and failures are counted (implemented by ProcessMetrics)."""

    def action_attempt(self, source: str, action: str) -> None: ...

    def action_failure(self, source: str, action: str, reason: ActionFailureReason) -> None: ...


@dataclass(frozen=True, slots=True)
class Query:
    """A request's query, read before anything can fail, so that even a refusal is audited with the real
    dry_run. A value the caller chose is never repeated: `problem` names only the parameter."""

    dry_run: bool | None
    """None when the value is neither true nor false."""
    confirm: str | None
    problem: str | None


def parse_query(query: Mapping[str, str]) -> Query:
    raw = query.get("dry_run", "false").lower()
    dry_run = True if raw in ("true", "1") else False if raw in ("false", "0") else None
    confirm = query.get("confirm")
    problem = None
    if set(query) - set(QUERY_PARAMS):
        problem = f"unknown query parameter; only {' and '.join(QUERY_PARAMS)} are accepted"
    elif dry_run is None:
        problem = "dry_run: expected true or false"
    elif confirm is not None and confirm != CONFIRM_CRITICAL:
        problem = f"confirm: the only accepted value is {CONFIRM_CRITICAL}"
    return Query(dry_run, confirm, problem)


def parse_param(param: ActionParam, raw: str) -> int | str:
    """One path parameter, range-checked; the refusal names the parameter, never the value sent."""
    if param.kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise ActionError(400, "invalid", f"{param.name}: expected an integer")
        number = int(raw)
        if param.minimum is not None and number < param.minimum:
            raise ActionError(400, "invalid", f"{param.name}: must be >= {param.minimum}")
        if param.maximum is not None and number > param.maximum:
            raise ActionError(400, "invalid", f"{param.name}: must be <= {param.maximum}")
        return number
    if not raw or len(raw) > 128 or not raw.isprintable():
        raise ActionError(400, "invalid", f"{param.name}: not a valid name")
    return raw


def parse_params(spec: ActionSpec, match_info: Mapping[str, str]) -> dict[str, int | str]:
    return {param.name: parse_param(param, match_info[param.name]) for param in spec.params}


def subject(spec: ActionSpec, params: Mapping[str, int | str]) -> tuple[Unit, str | None]:
    """What an action acts on, for the cooldown: the unit its target parameter names, and the part of
    it (an outlet, a port) the other path parameters name, or None for the whole unit."""
    unit = (spec.source, str(params[spec.target_param]))
    part = " ".join(f"{p.name}={params[p.name]}" for p in spec.params if p.name != spec.target_param)
    return unit, part or None


@dataclass(slots=True)
class _Attempt:
    """One request or automated action, as its answer and its audit line describe it."""

    spec: ActionSpec
    client: str
    peer: str
    dry_run: bool | None
    target: str | None
    """The target's name, only if it names something the exporter knows (`ActionSpec.known`)."""
    start: float = field(default_factory=time.perf_counter)
    token: Token | None = None
    authorized: bool = False
    """The token may act on the target: only from here on does the answer name it, so that a token
    cannot learn which targets exist outside its allow rules."""
    confirmed: bool = False
    called: bool = False
    """The upstream call was started: audited in full, whatever came of it."""
    automated: bool = False
    """On behalf of remediation: refusals are audited in full too, one per decision it logs itself
    (its guard rails bound how many there are)."""

    @property
    def answered_target(self) -> str | None:
        return self.target if self.authorized else None


class ActionService:
    def __init__(self, specs: tuple[ActionSpec, ...], env: ActionEnv, metrics: ActionMetrics) -> None:
        self.specs = specs
        self.env = env
        self.metrics = metrics
        self.tokens = TokenStore(ActionsConfig())
        self.cooldown = Cooldown(60.0)
        self.limiter = FailureLimiter(10, 60.0)
        self.refusals = RefusalLog(5, 60.0)
        self.trusted_proxies: list[Network] = []
        self.timeout = 15.0

    def configure(self, config: ActionsConfig) -> None:
        """Apply a (re)loaded `actions:` section; cooldown and failure history survive reloads."""
        self.tokens = TokenStore(config)
        self.cooldown.seconds = config.cooldown
        self.limiter.max_failures = config.auth_failures.max_failures
        self.limiter.window = config.auth_failures.window
        self.refusals.lines_per_client = config.refusal_log.lines_per_client
        self.refusals.window = config.refusal_log.window
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

    def client_of(self, request: web.Request) -> str:
        """Who is asking, for the failure limiter, the refusal log and the audit (`client_address`):
        the same for the action API, the remediation endpoints and `/-/reload`."""
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)

    def _attempt(self, spec: ActionSpec, request: web.Request, dry_run: bool | None) -> _Attempt:
        param = next(p for p in spec.params if p.name == spec.target_param)
        try:
            target: str | None = str(parse_param(param, request.match_info.get(param.name, "")))
        except ActionError:
            target = None
        named = self._named(spec, target)
        return _Attempt(spec, self.client_of(request), request.remote or "unknown", dry_run, named)

    def _named(self, spec: ActionSpec, target: str | None) -> str | None:
        """The target as answers and the audit may name it: only a name the exporter knows. A string the
        caller made up is never repeated, so nothing tells them whether it resembles a secret."""
        return target if target is not None and spec.known(self.env, target) else None

    def _method_not_allowed(self, spec: ActionSpec) -> Any:
        async def handle(request: web.Request) -> web.Response:
            """Audited and counted like any refusal: a probe with the wrong method is still an attempt."""
            attempt = self._attempt(spec, request, parse_query(request.query).dry_run)
            detail = "method not allowed; use POST"
            self.metrics.action_attempt(spec.source, spec.action)
            self.metrics.action_failure(spec.source, spec.action, "invalid")
            self._audit(attempt, "invalid", 405, detail, None)
            body = _body(False, spec, None, detail, None)
            return web.json_response(body, status=405, headers={"Allow": "POST"})

        return handle

    async def handle(self, spec: ActionSpec, request: web.Request) -> web.Response:
        query = parse_query(request.query)
        attempt = self._attempt(spec, request, query.dry_run)
        self.metrics.action_attempt(spec.source, spec.action)
        headers: dict[str, str] = {}
        try:
            params = await self._admit(spec, request, query, attempt, headers)
            outcome = await self._execute(spec, params, attempt, query.confirm, headers)
        except Exception as exc:  # a bug must still answer in the one JSON shape, audited
            err = self._failure(spec, exc)
            detail = redact_whole(err.detail)
            self._audit(attempt, err.reason, err.status, detail, err.upstream_status)
            body = _body(False, spec, attempt.answered_target, detail, err.upstream_status)
            return web.json_response(body, status=err.status, headers=headers)
        detail = redact_whole(outcome.detail)
        self._audit(attempt, "allowed", 200, detail, outcome.upstream_status)
        return web.json_response(_body(True, spec, attempt.answered_target, detail, outcome.upstream_status))

    async def act(
        self, spec: ActionSpec, token: Token, params: Mapping[str, int | str], *, dry_run: bool, client: str
    ) -> Outcome:
        """An action on behalf of an already authenticated caller inside the exporter (remediation):
        the same authorization, validation, cooldown, upstream call, metrics and audit as a request.
        Raises ActionError, already counted and audited."""
        attempt = _Attempt(spec, client, client, dry_run, self._named(spec, str(params[spec.target_param])))
        attempt.token, attempt.automated = token, True
        self.metrics.action_attempt(spec.source, spec.action)
        try:
            self._authorize(spec, token, params, attempt)
            outcome = await self._execute(spec, params, attempt, None, {}, automated=True)
        except Exception as exc:
            err = self._failure(spec, exc)
            self._audit(attempt, err.reason, err.status, redact_whole(err.detail), err.upstream_status)
            raise err from None
        self._audit(attempt, "allowed", 200, redact_whole(outcome.detail), outcome.upstream_status)
        return outcome

    def cooldown_remaining(self, spec: ActionSpec, params: Mapping[str, int | str]) -> float:
        """Seconds until `spec` may act on what `params` name again (0 when it may now)."""
        return self.cooldown.remaining(*subject(spec, params))

    async def _execute(
        self,
        spec: ActionSpec,
        params: Mapping[str, int | str],
        attempt: _Attempt,
        confirm: str | None,
        headers: dict[str, str],
        *,
        automated: bool = False,
    ) -> Outcome:
        """After admission: validate against the snapshot, check confirmation and cooldown, then call
        upstream. Automation never touches a target its source marks protected or critical."""
        resolved = spec.resolve(self.env, params)
        if automated and (resolved.protected or resolved.critical):
            raise ActionError(403, "forbidden", f"protected: {resolved.protected or resolved.critical}")
        if resolved.critical is not None:
            if confirm != CONFIRM_CRITICAL:
                detail = f"{resolved.critical}; to {resolved.description} anyway, add ?confirm={CONFIRM_CRITICAL}"
                raise ActionError(409, "unconfirmed", detail)
            attempt.confirmed = True
        unit, part = subject(spec, params)
        wait = self.cooldown.remaining(unit, part)
        if wait > 0:
            headers["Retry-After"] = str(max(1, round(wait)))
            raise ActionError(429, "cooldown", f"{resolved.description}: cooling down; retry in {wait:.0f}s")
        if attempt.dry_run:
            return Outcome(None, f"dry run: would {resolved.description}")
        self.cooldown.start(unit, part)
        attempt.called = True
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
        Raises ActionError 429 (with Retry-After in `headers`) or 401 (with the bearer challenge); shared
        with the remediation endpoints and `/-/reload`."""
        blocked = self.limiter.retry_after(client)
        if blocked is not None:
            headers["Retry-After"] = str(max(1, round(blocked)))
            raise ActionError(429, "unauthenticated", "too many failed authentication attempts; try again later")
        try:
            return self.tokens.authenticate(request.headers.get("Authorization"))
        except AuthError as err:
            self.limiter.record(client)
            headers.update(BEARER_CHALLENGE)
            raise ActionError(401, "unauthenticated", str(err)) from None

    async def _admit(
        self, spec: ActionSpec, request: web.Request, query: Query, attempt: _Attempt, headers: dict[str, str]
    ) -> dict[str, int | str]:
        """Everything that happens before a target is looked up; no upstream I/O.

        Once the token is known it is kept in `attempt`, so a later refusal is audited with its name."""
        if not self.tokens.enabled:
            raise ActionError(403, "forbidden", "actions are disabled: no tokens are configured under actions.tokens")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise ActionError(413, "invalid", f"request body too large (limit {MAX_BODY_BYTES} bytes)")
        attempt.token = self.authenticate(request, attempt.client, headers)
        self._check_body(request)
        if query.problem is not None:
            raise ActionError(400, "invalid", query.problem)
        params = parse_params(spec, request.match_info)
        self._authorize(spec, attempt.token, params, attempt)
        return params

    @staticmethod
    def _authorize(spec: ActionSpec, token: Token, params: Mapping[str, int | str], attempt: _Attempt) -> None:
        if not token.allows(spec.qualified_name, str(params[spec.target_param])):
            raise ActionError(403, "forbidden", f"token {token.name!r} may not {spec.qualified_name} on this target")
        attempt.authorized = True

    @staticmethod
    def _check_body(request: web.Request) -> None:
        """The body as the listener read it (`exporter.actions.body`): at most one byte over the limit."""
        read = body_of(request)
        refusal = read.refusal(MAX_BODY_BYTES)
        if refusal is not None:
            status, detail = refusal
            raise ActionError(status, "invalid", detail)
        body = read.data
        if not body.strip():
            return
        if request.content_type != "application/json":
            raise ActionError(415, "invalid", "unsupported content type; send application/json or no body")
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ActionError(400, "invalid", "request body is not valid JSON") from None
        if parsed != {}:
            raise ActionError(400, "invalid", "request body must be empty or {}")

    async def _perform(self, perform: Any) -> Outcome:
        """The upstream call. Its errors carry what an upstream sent: piece-redacted here, where it enters."""
        try:
            async with asyncio.timeout(self.timeout):
                outcome: Outcome = await perform()
                return outcome
        except ActionError as err:
            raise ActionError(err.status, err.reason, redact(err.detail), err.upstream_status) from None
        except TimeoutError:
            raise ActionError(504, "timeout", f"upstream did not answer within {self.timeout:g}s") from None
        except PollError as err:
            if err.reason == "timeout":
                raise ActionError(504, "timeout", redact(str(err))) from None
            raise ActionError(502, "upstream", redact(str(err)), err.status) from None

    def _audit(self, attempt: _Attempt, decision: str, status: int, detail: str, upstream_status: int | None) -> None:
        """One `action` line per attempt. Refused requests go through the refusal log's rate limit; an
        allowed action, one that reached upstream, and automation's attempts are always logged."""
        spec = attempt.spec
        # Behind a trusted proxy the client comes from X-Forwarded-For: the peer that said so is kept too.
        via = {"peer": attempt.peer} if attempt.peer != attempt.client else {}
        confirmed = {"confirmed": CONFIRM_CRITICAL} if attempt.confirmed else {}
        fields = {
            "action": spec.qualified_name,
            "target": attempt.target,
            "token": attempt.token.name if attempt.token else None,
            **via,
            "decision": decision,
            "status": status,
            "dry_run": attempt.dry_run,
            **confirmed,
            "detail": detail,
            "upstream_status": upstream_status,
            "seconds": round(time.perf_counter() - attempt.start, 4),
        }
        if decision == "allowed" or attempt.called or attempt.automated:
            log.info("action", client=attempt.client, **fields)
        else:
            self.refusals.info(log, "action", client=attempt.client, **fields)


def _body(ok: bool, spec: ActionSpec, target: str | None, detail: str, upstream_status: int | None) -> dict[str, Any]:
    return {
        "ok": ok,
        "action": spec.qualified_name,
        "target": target,
        "detail": detail,
        "upstream_status": upstream_status,
    }
