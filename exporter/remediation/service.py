"""Remediation's endpoints: decide each alert Alertmanager sends inside the guard rails and act through the
action API; close a breaker early. What the requests and answers look like is `webhook.py`.

Every action goes through `ActionService.act`: the same authorization (the remediation token's allow
rules), validation against the latest snapshot, cooldown, upstream call, metrics and audit as a request
to the action API. Resolved alerts never act; they only settle a pending verification or drop a retry.

The guard rails' memory is kept in the state directory when there is one (`memory.py`), and written
before a device is called, so neither a restart nor a reload gives an episode a second action. Only
an authenticated, audited request closes a breaker early (`BREAKER_CLOSE_PATH`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import Any, Protocol

import structlog
from aiohttp import web

from exporter.actions.auth import Token
from exporter.actions.body import reads_body
from exporter.actions.service import ActionService
from exporter.config.label_templates import TemplateError
from exporter.config.remediation import RemediationConfig
from exporter.engine.engine import Shard
from exporter.metrics.remediation import Endpoint, RemediationMetrics, Result
from exporter.remediation import memory as saved
from exporter.remediation.guards import Breaker, EpisodeKey, Kind, TargetLimit
from exporter.remediation.memory import (
    Clock,
    Deferred,
    Memory,
    MemoryFile,
    Pending,
    RuleMemory,
    SavedRule,
    SystemClock,
)
from exporter.remediation.payload import Alert
from exporter.remediation.rules import Rule, compile_rules
from exporter.remediation.webhook import (
    MAX_CLOSE_BODY_BYTES,
    MAX_PAYLOAD_BYTES,
    TRUNCATION_ADVICE,
    Decision,
    WebhookError,
    answer,
    check_empty_body,
    parse_notification,
    read_body,
    refused,
)
from exporter.sources.action_api import ActionError

log = structlog.get_logger("exporter.remediation")

WEBHOOK_PATH = "/api/v1/remediation/alertmanager"
BREAKER_CLOSE_PATH = "/api/v1/remediation/rules/{rule}/breaker/close"
BREAKER_CLOSE_ACTION = "remediation.breaker_close"
"""What a token's `allow` rules name to permit closing a breaker; the targets are rule names."""
MAX_TRIES = 3
"""Cooldown refusals of one episode that are retried; the next one is final."""
_NOTHING_CALLED = ("forbidden", "not_found", "invalid", "unconfirmed", "cooldown")
"""Action refusals that happen before anything reaches upstream: they hand their budget back."""


class Fleet(Protocol):
    """What remediation asks of the engine: its share of the targets, and whether its first polls are done."""

    @property
    def shard(self) -> Shard: ...

    def is_ready(self) -> bool: ...


class RemediationService:
    def __init__(
        self,
        actions: ActionService,
        metrics: RemediationMetrics,
        fleet: Fleet,
        *,
        storage: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.actions = actions
        self.metrics = metrics
        self.fleet = fleet
        self.clock: Clock = clock or SystemClock()
        self.token_name: str | None = None
        self.rules: tuple[Rule, ...] = ()
        self.memory = Memory()
        self._file = MemoryFile(storage, lambda: saved.dump(self.memory, self.clock))
        self._saved_rules: dict[str, SavedRule] | None = None
        """Rules read from the state file, until the first configure() takes them; None before loading."""
        self._retries: set[asyncio.Task[None]] = set()

    # -- configuration ---------------------------------------------------------------------------

    def configure(self, config: RemediationConfig) -> None:
        """Apply a (re)loaded section. Memory survives: decided episodes, per-target history, budgets and
        open breakers (closing one early is `BREAKER_CLOSE_PATH`'s job, not a reload's). Called on the loop."""
        if self._saved_rules is None:
            self._load()
        rules = compile_rules(config, self.actions.specs)
        now = self.clock.mono()
        kept: dict[str, RuleMemory] = {}
        for rule in rules:
            rc = rule.config
            rm = self.memory.rules.get(rule.name)
            if rm is None:
                rm = RuleMemory(TargetLimit(rc.max_per_target, rc.target_window), Breaker(rc.budget_per_hour, 0.0))
                stored = (self._saved_rules or {}).get(rule.name)
                if stored is not None:
                    saved.restore_rule(stored, rm)
            rm.limit.limit, rm.limit.window = rc.max_per_target, rc.target_window
            rm.breaker.budget, rm.breaker.reset_after = rc.budget_per_hour, rc.breaker_reset
            kept[rule.name] = rm
        for name, rm in self.memory.rules.items():
            if name not in kept and rm.timer is not None:
                rm.timer.cancel()
        self._saved_rules = {}
        self.memory.rules = kept
        self.rules = rules
        for key, pending in list(self.memory.pending.items()):
            if pending.rule not in kept:
                _cancel(pending.timer)
                del self.memory.pending[key]
        for episode, deferred in list(self.memory.deferred.items()):
            if deferred.rule not in kept:
                _cancel(deferred.timer)
                del self.memory.deferred[episode]
        self.token_name = config.token
        self.metrics.set_rules(set(kept))
        for rule in rules:
            rm = kept[rule.name]
            is_open = rm.breaker.is_open(now)
            self.metrics.breaker(rule.name, is_open)
            _cancel(rm.timer)
            rm.timer = None
            if is_open:
                self._schedule_breaker_check(rule.name)
        self._schedule_timers()

    def _load(self) -> None:
        self._saved_rules = {}
        loaded = self._file.load(self.clock)
        if loaded is None:
            return
        self.memory, self._saved_rules = loaded.memory, loaded.rules

    def _schedule_timers(self) -> None:
        """Timers for verifications and retries that have none yet (those read from the state file)."""
        loop = asyncio.get_running_loop()
        now = self.clock.mono()
        for (fingerprint, starts), pending in self.memory.pending.items():
            if pending.timer is None:
                delay = max(pending.deadline - now, 0.0)
                pending.timer = loop.call_later(delay, self._settle, fingerprint, starts, False)
        for key, deferred in self.memory.deferred.items():
            if deferred.timer is None:
                deferred.timer = loop.call_later(max(deferred.retry_at - now, 0.0), self._start_retry, key)

    # -- HTTP ------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        @reads_body(MAX_PAYLOAD_BYTES)
        async def webhook(request: web.Request) -> web.Response:
            return await self.handle(request)

        @reads_body(MAX_CLOSE_BODY_BYTES)
        async def close_breaker(request: web.Request) -> web.Response:
            return await self.close_breaker(request)

        app.router.add_post(WEBHOOK_PATH, webhook)
        app.router.add_route("*", WEBHOOK_PATH, self._method_not_allowed("webhook"))
        app.router.add_post(BREAKER_CLOSE_PATH, close_breaker)
        app.router.add_route("*", BREAKER_CLOSE_PATH, self._method_not_allowed("breaker_close"))

    def _method_not_allowed(self, endpoint: Endpoint) -> Any:
        async def handle(request: web.Request) -> web.Response:
            self.metrics.rejected(endpoint, "method_not_allowed")
            return web.json_response({"ok": False, "detail": "use POST"}, status=405, headers={"Allow": "POST"})

        return handle

    async def handle(self, request: web.Request) -> web.Response:
        client = self.actions.client_of(request)
        headers: dict[str, str] = {}
        try:
            if self.token_name is None or not self.rules:
                raise WebhookError(403, "disabled", "remediation is disabled: no remediation.rules are configured")
            token = self._authenticate(request, client, headers, MAX_PAYLOAD_BYTES)
            if token.name != self.token_name:
                raise WebhookError(403, "forbidden", f"token {token.name!r} may not send alerts for remediation")
            notification = parse_notification(read_body(request, MAX_PAYLOAD_BYTES), request.content_type)
        except WebhookError as err:
            self.metrics.rejected("webhook", err.reason)
            self.actions.refusals.info(
                log, "remediation webhook refused", client=client, status=err.status, detail=err.detail
            )
            return refused(err, headers)
        if notification.truncatedAlerts:
            self.metrics.truncated(notification.truncatedAlerts)
            log.warning(
                "alerts truncated by Alertmanager",
                receiver=notification.receiver,
                decided=len(notification.alerts),
                truncated=notification.truncatedAlerts,
                advice=TRUNCATION_ADVICE,
            )
        decisions = [await self.decide(alert, token, client) for alert in notification.alerts]
        return answer(decisions)

    def _authenticate(self, request: web.Request, client: str, headers: dict[str, str], limit: int) -> Token:
        length = request.content_length
        if length is not None and length > limit:
            raise WebhookError(413, "too_large", f"request body too large (limit {limit} bytes)")
        try:
            return self.actions.authenticate(request, client, headers)
        except ActionError as err:
            raise WebhookError(
                err.status, "rate_limited" if err.status == 429 else "unauthenticated", err.detail
            ) from None

    async def close_breaker(self, request: web.Request) -> web.Response:
        """Close a rule's open breaker, with a fresh budget: for a token whose allow rules name
        `remediation.breaker_close` and the rule. Audited and counted like an action."""
        start = time.perf_counter()
        client = self.actions.client_of(request)
        headers: dict[str, str] = {}
        token: Token | None = None
        rule = next((r for r in self.rules if r.name == request.match_info["rule"]), None)
        try:
            if not self.actions.tokens.enabled:
                raise WebhookError(
                    403, "disabled", "actions are disabled: no tokens are configured under actions.tokens"
                )
            token = self._authenticate(request, client, headers, MAX_CLOSE_BODY_BYTES)
            check_empty_body(request)
            if rule is None:
                raise WebhookError(404, "not_found", "no remediation rule has that name")
            if not token.allows(BREAKER_CLOSE_ACTION, rule.name):
                raise WebhookError(403, "forbidden", f"token {token.name!r} may not {BREAKER_CLOSE_ACTION} {rule.name}")
        except WebhookError as err:
            self.metrics.rejected("breaker_close", err.reason)
            self._audit_close(rule, token, client, err.reason, err.status, err.detail, start, refused=True)
            return refused(err, headers)
        rm = self.memory.rules[rule.name]
        was_open = rm.breaker.is_open(self.clock.mono())
        if was_open:
            rm.breaker.reset()
            _cancel(rm.timer)
            rm.timer = None
            self.metrics.breaker(rule.name, False)
            self.metrics.breaker_closed(rule.name)
            await self._file.save_now()
            detail = f"breaker closed, with a fresh budget of {rule.config.budget_per_hour} per hour"
            log.warning("remediation breaker closed early", rule=rule.name, token=token.name, client=client)
        else:
            detail = "the breaker was not open; nothing changed"
        self._audit_close(rule, token, client, "allowed", 200, detail, start, refused=False)
        return web.json_response({"ok": True, "rule": rule.name, "was_open": was_open, "detail": detail})

    def _audit_close(
        self,
        rule: Rule | None,
        token: Token | None,
        client: str,
        decision: str,
        status: int,
        detail: str,
        start: float,
        *,
        refused: bool,
    ) -> None:
        """The action API's audit line; an unknown rule is not named (the caller chose that text).
        Refusals go through the action API's refusal log, at its bounded rate."""
        emit = functools.partial(self.actions.refusals.info, log) if refused else log.info
        emit(
            "action",
            action=BREAKER_CLOSE_ACTION,
            target=rule.name if rule is not None else None,
            token=token.name if token is not None else None,
            client=client,
            decision=decision,
            status=status,
            dry_run=False,
            detail=detail,
            upstream_status=None,
            seconds=round(time.perf_counter() - start, 4),
        )

    # -- decisions -------------------------------------------------------------------------------

    async def decide(self, alert: Alert, token: Token, client: str) -> Decision:
        """One alert of a notification. Only a firing alert that passes every guard rail acts."""
        starts = alert.startsAt.timestamp()
        if alert.status == "resolved":
            self._resolved(alert.fingerprint, starts)
            return Decision(alert.fingerprint, None, "resolved", "resolved alerts never act")
        rule = next((r for r in self.rules if r.matches(alert.labels)), None)
        if rule is None:
            return Decision(alert.fingerprint, None, "no_rule", "no remediation rule matches")
        result, detail = await self._decide(rule, alert, starts, token, client)
        self._report(rule, alert.fingerprint, result, detail, alert.labels.get("alertname"))
        return Decision(alert.fingerprint, rule.name, result, detail)

    def _report(self, rule: Rule, fingerprint: str, result: Result, detail: str, alertname: str | None) -> None:
        self.metrics.result(rule.name, result)
        if result == "duplicate":
            return
        # Every replica of a sharded fleet gets every alert: the ones it leaves to the others are not news.
        emit = log.debug if result == "not_owned" else log.info
        emit(
            "remediation",
            rule=rule.name,
            alertname=alertname,
            fingerprint=fingerprint,
            action=rule.spec.qualified_name,
            result=result,
            dry_run=rule.config.dry_run,
            detail=detail,
        )

    async def _decide(self, rule: Rule, alert: Alert, starts: float, token: Token, client: str) -> tuple[Result, str]:
        key: EpisodeKey = (rule.name, alert.fingerprint, starts)
        now = self.clock.mono()
        if key in self.memory.deferred:
            self.memory.episodes.seen(key, now)
            return ("duplicate", "this firing episode is decided again once the cooldown has passed")
        if self.memory.episodes.seen(key, now):
            return ("duplicate", "this firing episode was already decided")
        firing = self.clock.wall() - starts
        if firing < rule.config.min_firing:
            return ("too_early", f"firing for {max(firing, 0):.0f}s, less than min_firing")
        try:
            params = rule.params_for(alert.labels)
        except TemplateError as err:
            return ("invalid", f"template yields no target: {err}")
        except ActionError as err:
            return ("invalid", err.detail)
        unplaced = self._placement(rule, params)
        if unplaced is not None:
            return unplaced  # not recorded: a resend decides it
        return await self._attempt(rule, key, params, token, client, tries=0)

    def _placement(self, rule: Rule, params: dict[str, int | str]) -> tuple[Result, str] | None:
        """Whether this replica is the one to decide: `not_ready` while the target has no data here yet
        (or the first polls are not done), `not_owned` when another replica of a sharded fleet polls it.
        None: decide here (the action API refuses what it must, audited). Resolving calls nothing."""
        spec, env = rule.spec, self.actions.env
        try:
            spec.resolve(env, params)
            return None
        except ActionError as err:
            if err.reason != "not_found":
                return None
        except Exception:
            return None  # the action API answers it, counted and audited
        name = str(params[spec.target_param])
        polled_here = env.target(spec.source, name) is not None
        if (polled_here and not env.has_data(spec.source, name)) or not self.fleet.is_ready():
            return ("not_ready", "this exporter has no data for that target yet; decided when the alert is sent again")
        shard = self.fleet.shard
        if shard.count > 1 and not polled_here:
            return (
                "not_owned",
                f"not among the targets of this replica (shard {shard.index} of {shard.count}); "
                "the replica that polls it decides",
            )
        return None

    async def _attempt(
        self, rule: Rule, key: EpisodeKey, params: dict[str, int | str], token: Token, client: str, *, tries: int
    ) -> tuple[Result, str]:
        """From here on the episode is decided: no await before it is recorded, so a duplicate sent at
        the same moment by the other Alertmanager of an HA pair finds it."""
        now = self.clock.mono()
        episodes, rm = self.memory.episodes, self.memory.rules[rule.name]
        target = rule.target_of(params)
        if rm.breaker.is_open(now):
            episodes.record(key, now, Kind.REFUSED)
            self._file.save_soon()
            return ("breaker_open", "the rule's circuit breaker is open")
        if not rm.limit.allows(target, now):
            episodes.record(key, now, Kind.REFUSED)
            self._file.save_soon()
            return ("limited", f"{target}: already acted on {rule.config.max_per_target}x within target_window")
        if not rm.breaker.take(now):
            episodes.record(key, now, Kind.REFUSED)
            self._breaker_opened(rule)
            self._file.save_soon()
            return ("breaker_open", f"budget of {rule.config.budget_per_hour} per hour spent; breaker opened")
        rm.limit.add(target, now)
        dry_run = rule.config.dry_run
        episodes.record(key, now, Kind.DRY_RUN if dry_run else Kind.CALLED)
        if not dry_run and not await self._file.save_now():
            # Fail closed: memory that is not on disk would let a restart act on this episode again.
            rm.breaker.refund(now)
            rm.limit.remove(target, now)
            episodes.forget(key)  # undecided: a resend once the state can be written decides it
            return ("refused", "remediation memory cannot be written under --storage.path; not acting")
        try:
            outcome = await self.actions.act(rule.spec, token, params, dry_run=dry_run, client=client)
        except ActionError as err:
            if err.reason == "cooldown" and dry_run:
                return ("dry_run", f"dry run: would act once the cooldown has passed ({err.detail})")
            if err.reason not in _NOTHING_CALLED:
                return ("failed", err.detail)
            rm.breaker.refund(now)
            rm.limit.remove(target, now)
            if err.reason == "cooldown" and tries < MAX_TRIES and len(self.memory.deferred) < saved.MAX_DEFERRED:
                episodes.record(key, now, Kind.DEFERRED)
                retry_in = self._defer(rule, key, params, target, client, tries + 1)
                return ("deferred", f"{err.detail}; tried again in {retry_in:.0f}s (try {tries + 1} of {MAX_TRIES})")
            episodes.record(key, now, Kind.REFUSED)
            return ("refused", err.detail)
        finally:
            self._file.save_soon()
        if dry_run:
            return ("dry_run", outcome.detail)
        self._watch(rule, key, target)
        return ("acted", outcome.detail)

    # -- retries after a cooldown ----------------------------------------------------------------

    def _defer(
        self, rule: Rule, key: EpisodeKey, params: dict[str, int | str], target: str, client: str, tries: int
    ) -> float:
        """Try the episode again one cooldown from now (the cooldown started at or before now). Returns the delay."""
        delay = self.actions.cooldown.seconds + 0.05
        deferred = Deferred(rule.name, params, target, client, self.clock.mono() + delay, tries)
        deferred.timer = asyncio.get_running_loop().call_later(delay, self._start_retry, key)
        self.memory.deferred[key] = deferred
        return delay

    def _start_retry(self, key: EpisodeKey) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(key))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, key: EpisodeKey) -> None:
        deferred = self.memory.deferred.pop(key, None)
        rule = next((r for r in self.rules if r.name == key[0]), None)
        if deferred is None or rule is None:
            return
        now = self.clock.mono()
        token = self._token()
        unplaced = self._placement(rule, deferred.params)
        result: Result
        if token is None:
            self.memory.episodes.record(key, now, Kind.REFUSED)
            result, detail = "refused", "the remediation token is no longer configured or has expired"
        elif unplaced is not None and unplaced[0] == "not_ready" and deferred.tries < MAX_TRIES:
            retry_in = self._defer(rule, key, deferred.params, deferred.target, deferred.client, deferred.tries + 1)
            result, detail = "deferred", f"{unplaced[1]}; tried again in {retry_in:.0f}s"
        elif unplaced is not None:
            self.memory.episodes.forget(key)  # not this replica's (or never ready): a resend decides it
            result, detail = unplaced
        else:
            result, detail = await self._attempt(
                rule, key, deferred.params, token, deferred.client, tries=deferred.tries
            )
        self._report(rule, key[1], result, detail, None)
        self._file.save_soon()

    def _token(self) -> Token | None:
        """The remediation token as configured now (a retry acts as it, as the first try did)."""
        token = self.actions.tokens.named(self.token_name)
        return None if token is None or token.expired() else token

    # -- breaker and verification ----------------------------------------------------------------

    def _breaker_opened(self, rule: Rule) -> None:
        log.warning("remediation breaker opened", rule=rule.name, reset_after=rule.config.breaker_reset)
        self.metrics.breaker(rule.name, True)
        self._schedule_breaker_check(rule.name)

    def _schedule_breaker_check(self, name: str) -> None:
        rm = self.memory.rules[name]
        assert rm.breaker.opened_at is not None
        wait = rm.breaker.opened_at + rm.breaker.reset_after - self.clock.mono()
        _cancel(rm.timer)
        rm.timer = asyncio.get_running_loop().call_later(max(wait, 0.1), self._check_breaker, name)

    def _check_breaker(self, name: str) -> None:
        rm = self.memory.rules.get(name)
        if rm is None:
            return
        rm.timer = None
        if rm.breaker.is_open(self.clock.mono()):
            self._schedule_breaker_check(name)
            return
        log.info("remediation breaker closed", rule=name)
        self.metrics.breaker(name, False)
        self._file.save_soon()

    def _watch(self, rule: Rule, key: EpisodeKey, target: str) -> None:
        _, fingerprint, starts = key
        while len(self.memory.pending) >= saved.MAX_PENDING:
            (old_fingerprint, _), oldest = next(iter(self.memory.pending.items()))
            _cancel(oldest.timer)
            del self.memory.pending[next(iter(self.memory.pending))]
            log.warning("remediation verification dropped: too many pending", fingerprint=old_fingerprint)
        deadline = self.clock.mono() + rule.config.verify_within
        timer = asyncio.get_running_loop().call_later(
            rule.config.verify_within, self._settle, fingerprint, starts, False
        )
        self.memory.pending[(fingerprint, starts)] = Pending(rule.name, target, deadline, timer)

    def _resolved(self, fingerprint: str, starts: float) -> None:
        """The alert resolved: verify what was done, and drop retries that wait for a cooldown."""
        self._settle(fingerprint, starts, recovered=True)
        for key in [k for k in self.memory.deferred if k[1:] == (fingerprint, starts)]:
            deferred = self.memory.deferred.pop(key)
            _cancel(deferred.timer)
            self.memory.episodes.record(key, self.clock.mono(), Kind.REFUSED)
            log.info("remediation retry dropped: the alert resolved", rule=key[0], fingerprint=fingerprint)
            self._file.save_soon()

    def _settle(self, fingerprint: str, starts: float, recovered: bool) -> None:
        pending = self.memory.pending.pop((fingerprint, starts), None)
        if pending is None:
            return
        _cancel(pending.timer)
        result: Result = "recovered" if recovered else "not_recovered"
        self.metrics.result(pending.rule, result)
        log.info(
            "remediation verified", rule=pending.rule, fingerprint=fingerprint, target=pending.target, result=result
        )
        self._file.save_soon()

    async def aclose(self) -> None:
        """Stop every timer and retry, then write memory a last time, after any write under way."""
        for task in self._retries:
            task.cancel()
        for pending in self.memory.pending.values():
            _cancel(pending.timer)
            pending.timer = None
        for deferred in self.memory.deferred.values():
            _cancel(deferred.timer)
            deferred.timer = None
        for rm in self.memory.rules.values():
            _cancel(rm.timer)
            rm.timer = None
        await asyncio.gather(*self._retries, return_exceptions=True)
        await self._file.aclose()


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()


__all__ = ["BREAKER_CLOSE_PATH", "WEBHOOK_PATH", "Fleet", "RemediationService"]
