"""The Alertmanager webhook: authenticate, decide per alert inside the guard rails, act through the action API.

Every action goes through `ActionService.act`: the same authorization (the remediation token's allow
rules), validation against the latest snapshot, cooldown, upstream call, metrics and audit as a request
to the action API. Resolved alerts never act; they only settle a pending verification.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiohttp import web
from pydantic import ValidationError

from exporter.actions.auth import Token, client_address
from exporter.actions.body import body_of, reads_body
from exporter.actions.service import ActionService, parse_params
from exporter.config.alert_matchers import Matcher
from exporter.config.label_templates import LabelTemplate, TemplateError
from exporter.config.remediation import RemediationConfig, RuleConfig
from exporter.metrics.remediation import RemediationMetrics, Result
from exporter.remediation.guards import Breaker, EpisodeKey, Episodes, TargetLimit
from exporter.remediation.payload import Alert, Notification
from exporter.sources.action_api import ActionError, ActionSpec

log = structlog.get_logger("exporter.remediation")

WEBHOOK_PATH = "/api/v1/remediation/alertmanager"
MAX_PAYLOAD_BYTES = 64 * 1024
"""The listener's client_max_size: about a hundred alerts. Alertmanager's `max_alerts` keeps under it."""
_NOTHING_CALLED = ("forbidden", "not_found", "invalid", "cooldown")
"""Action refusals that happen before anything reaches upstream: they hand their budget back."""


class Clock(Protocol):
    def wall(self) -> float: ...

    def mono(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()


class WebhookError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decision:
    fingerprint: str
    rule: str | None
    result: str
    """A Result, or `resolved` / `no_rule` for alerts no rule decides."""
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "rule": self.rule, "result": self.result, "detail": self.detail}


class _Rule:
    def __init__(self, config: RuleConfig, spec: ActionSpec, limit: TargetLimit) -> None:
        self.config = config
        self.name = config.name
        self.spec = spec
        self.matchers: tuple[Matcher, ...] = config.parsed_matchers()
        self.params: dict[str, LabelTemplate] = config.parsed_params()
        self.limit = limit
        self.breaker = Breaker(config.budget_per_hour, config.breaker_reset)
        self.breaker_timer: asyncio.TimerHandle | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass
class _Pending:
    rule: str
    target: str
    timer: asyncio.TimerHandle


class RemediationService:
    def __init__(self, actions: ActionService, metrics: RemediationMetrics, clock: Clock | None = None) -> None:
        self.actions = actions
        self.metrics = metrics
        self.clock: Clock = clock or SystemClock()
        self.token_name: str | None = None
        self.rules: tuple[_Rule, ...] = ()
        self.episodes = Episodes()
        self._limits: dict[str, TargetLimit] = {}
        self._pending: dict[tuple[str, float], _Pending] = {}

    # -- configuration ---------------------------------------------------------------------------

    def configure(self, config: RemediationConfig) -> None:
        """Apply a (re)loaded section. Decided episodes and per-target history survive; breakers close and
        budgets start afresh (a reload is how an operator closes a breaker early)."""
        specs = {spec.qualified_name: spec for spec in self.actions.specs}
        for rule in self.rules:
            if rule.breaker_timer is not None:
                rule.breaker_timer.cancel()
        rules = []
        for rc in config.rules:
            limit = self._limits.get(rc.name) or TargetLimit(rc.max_per_target, rc.target_window)
            limit.limit, limit.window = rc.max_per_target, rc.target_window
            rules.append(_Rule(rc, specs[rc.action], limit))
        self.rules = tuple(rules)
        names = {r.name for r in rules}
        self._limits = {r.name: r.limit for r in rules}
        for key, pending in list(self._pending.items()):
            if pending.rule not in names:
                pending.timer.cancel()
                del self._pending[key]
        self.token_name = config.token
        self.metrics.set_rules(names)
        for rule in rules:
            self.metrics.breaker(rule.name, False)  # a reload closes every breaker

    # -- HTTP ------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        @reads_body(MAX_PAYLOAD_BYTES)
        async def webhook(request: web.Request) -> web.Response:
            return await self.handle(request)

        app.router.add_post(WEBHOOK_PATH, webhook)
        app.router.add_route("*", WEBHOOK_PATH, _method_not_allowed)

    async def handle(self, request: web.Request) -> web.Response:
        client = client_address(
            request.remote, request.headers.getall("X-Forwarded-For", []), self.actions.trusted_proxies
        )
        headers: dict[str, str] = {}
        try:
            token = self._authenticate(request, client, headers)
            notification = parse_notification(_read_body(request), request.content_type)
        except WebhookError as err:
            self.actions.refusals.info(
                log, "remediation webhook refused", client=client, status=err.status, detail=err.detail
            )
            return web.json_response({"ok": False, "detail": err.detail}, status=err.status, headers=headers)
        decisions = [await self.decide(alert, token, client) for alert in notification.alerts]
        invalid = [d for d in decisions if d.result == "invalid"]
        body = {
            "ok": not invalid,
            "detail": f"{len(invalid)} alert(s) could not be turned into an action" if invalid else "decided",
            "decisions": [d.as_json() for d in decisions],
        }
        return web.json_response(body, status=422 if invalid else 200)

    def _authenticate(self, request: web.Request, client: str, headers: dict[str, str]) -> Token:
        if self.token_name is None or not self.rules:
            raise WebhookError(403, "remediation is disabled: no remediation.rules are configured")
        length = request.content_length
        if length is not None and length > MAX_PAYLOAD_BYTES:
            raise WebhookError(413, f"request body too large (limit {MAX_PAYLOAD_BYTES} bytes)")
        try:
            token = self.actions.authenticate(request, client, headers)
        except ActionError as err:
            if err.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="powerstrip-exporter"'
            raise WebhookError(err.status, err.detail) from None
        if token.name != self.token_name:
            raise WebhookError(403, f"token {token.name!r} may not send alerts for remediation")
        return token

    # -- decisions -------------------------------------------------------------------------------

    async def decide(self, alert: Alert, token: Token, client: str) -> Decision:
        """One alert of a notification. Only a firing alert that passes every guard rail acts."""
        starts = alert.startsAt.timestamp()
        if alert.status == "resolved":
            self._settle(alert.fingerprint, starts, recovered=True)
            return Decision(alert.fingerprint, None, "resolved", "resolved alerts never act")
        rule = next((r for r in self.rules if r.matches(alert.labels)), None)
        if rule is None:
            return Decision(alert.fingerprint, None, "no_rule", "no remediation rule matches")
        result, detail = await self._decide(rule, alert, starts, token, client)
        self.metrics.result(rule.name, result)
        if result != "duplicate":
            log.info(
                "remediation",
                rule=rule.name,
                alertname=alert.labels.get("alertname"),
                fingerprint=alert.fingerprint,
                action=rule.spec.qualified_name,
                result=result,
                dry_run=rule.config.dry_run,
                detail=detail,
            )
        return Decision(alert.fingerprint, rule.name, result, detail)

    async def _decide(self, rule: _Rule, alert: Alert, starts: float, token: Token, client: str) -> tuple[Result, str]:
        key: EpisodeKey = (rule.name, alert.fingerprint, starts)
        wall, now = self.clock.wall(), self.clock.mono()
        if self.episodes.seen(key, now):
            return ("duplicate", "this firing episode was already decided")
        firing = wall - starts
        if firing < rule.config.min_firing:
            return ("too_early", f"firing for {max(firing, 0):.0f}s, less than min_firing")
        try:
            rendered = {name: template.render(alert.labels) for name, template in rule.params.items()}
            params = parse_params(rule.spec, rendered)
        except TemplateError as err:
            return ("invalid", f"template yields no target: {err}")
        except ActionError as err:
            return ("invalid", err.detail)
        # From here on the episode is decided once: no await before this line, so a duplicate sent at
        # the same moment by the other Alertmanager of an HA pair finds it recorded.
        self.episodes.record(key, now)
        target = rule.spec.qualified_name + " " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))
        if rule.breaker.is_open(now):
            return ("breaker_open", "the rule's circuit breaker is open")
        if not rule.limit.allows(target, now):
            return ("limited", f"{target}: already acted on {rule.config.max_per_target}x within target_window")
        if not rule.breaker.take(now):
            self._breaker_opened(rule)
            return ("breaker_open", f"budget of {rule.config.budget_per_hour} per hour spent; breaker opened")
        rule.limit.add(target, now)
        try:
            outcome = await self.actions.act(rule.spec, token, params, dry_run=rule.config.dry_run, client=client)
        except ActionError as err:
            if err.reason in _NOTHING_CALLED:
                rule.breaker.refund(now)
                rule.limit.remove(target, now)
                return ("refused", err.detail)
            return ("failed", err.detail)
        if rule.config.dry_run:
            return ("dry_run", outcome.detail)
        self._watch(rule, alert.fingerprint, starts, target)
        return ("acted", outcome.detail)

    # -- breaker and verification ----------------------------------------------------------------

    def _breaker_opened(self, rule: _Rule) -> None:
        log.warning("remediation breaker opened", rule=rule.name, reset_after=rule.config.breaker_reset)
        self.metrics.breaker(rule.name, True)
        rule.breaker_timer = asyncio.get_running_loop().call_later(rule.config.breaker_reset, self._check_breaker, rule)

    def _check_breaker(self, rule: _Rule) -> None:
        if rule not in self.rules:
            return
        if rule.breaker.is_open(self.clock.mono()):
            assert rule.breaker.opened_at is not None
            wait = rule.breaker.opened_at + rule.config.breaker_reset - self.clock.mono()
            rule.breaker_timer = asyncio.get_running_loop().call_later(max(wait, 0.1), self._check_breaker, rule)
            return
        rule.breaker_timer = None
        log.info("remediation breaker closed", rule=rule.name)
        self.metrics.breaker(rule.name, False)

    def _watch(self, rule: _Rule, fingerprint: str, starts: float, target: str) -> None:
        timer = asyncio.get_running_loop().call_later(
            rule.config.verify_within, self._settle, fingerprint, starts, False
        )
        self._pending[(fingerprint, starts)] = _Pending(rule.name, target, timer)

    def _settle(self, fingerprint: str, starts: float, recovered: bool) -> None:
        pending = self._pending.pop((fingerprint, starts), None)
        if pending is None:
            return
        pending.timer.cancel()
        result: Result = "recovered" if recovered else "not_recovered"
        self.metrics.result(pending.rule, result)
        log.info(
            "remediation verified", rule=pending.rule, fingerprint=fingerprint, target=pending.target, result=result
        )

    def close(self) -> None:
        for pending in self._pending.values():
            pending.timer.cancel()
        self._pending.clear()
        for rule in self.rules:
            if rule.breaker_timer is not None:
                rule.breaker_timer.cancel()


async def _method_not_allowed(request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "detail": "use POST"}, status=405, headers={"Allow": "POST"})


def _read_body(request: web.Request) -> bytes:
    """The body as the listener read it (`exporter.actions.body`), bounded in size and time."""
    read = body_of(request)
    if read.problem == "too_large":
        raise WebhookError(413, f"request body too large (limit {MAX_PAYLOAD_BYTES} bytes)")
    if read.problem == "timeout":
        raise WebhookError(408, "the request body did not arrive in time")
    if read.problem is not None:
        raise WebhookError(400, "could not read the request body")
    return read.data


def parse_notification(body: bytes, content_type: str) -> Notification:
    """An Alertmanager webhook body as a `Notification`, or the `WebhookError` to answer with."""
    if content_type != "application/json":
        raise WebhookError(415, f"unsupported content type {content_type!r}; Alertmanager sends application/json")
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookError(400, "request body is not valid JSON") from None
    try:
        return Notification.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise WebhookError(400, f"not an Alertmanager webhook payload (version 4): {problems[:500]}") from None


__all__ = ["WEBHOOK_PATH", "Clock", "Decision", "RemediationService", "parse_notification"]
