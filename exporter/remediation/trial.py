"""`powerstrip-exporter remediation try`: what each rule would decide for each alert of a payload, offline.

It takes the steps the webhook takes that need no running exporter (status, rule order and matchers,
`min_firing`, the label templates and parameters, the token's allow rules, `dry_run`) and calls
nothing: no device, no network, no state file. What needs the running exporter is listed, not guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from exporter.actions.auth import Token, TokenStore
from exporter.config.actions import ActionsConfig
from exporter.config.label_templates import TemplateError
from exporter.remediation.payload import Alert, Notification
from exporter.remediation.rules import Rule
from exporter.sources.action_api import ActionError

NOT_CHECKED = (
    "whether the episode was already decided, the latest snapshot (the target exists and has data, "
    "protected or switched-off outlets), the cooldown, the per-target limit, the budget and breaker, "
    "and which replica of a sharded fleet polls the target"
)
"""What only the running exporter can know."""


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    result: str
    """A remediation result (`acted`, `dry_run`, `too_early`, `invalid`, `refused`), or `no_match` /
    `shadowed` for rules that do not decide this alert."""
    detail: str


@dataclass(frozen=True, slots=True)
class AlertTrial:
    fingerprint: str
    alertname: str | None
    status: str
    firing_for: float
    decision: str
    """The result the webhook would count: that of the first matching rule, or `resolved` / `no_rule`."""
    decided_by: str | None
    rules: tuple[Verdict, ...]


def try_notification(
    notification: Notification, rules: tuple[Rule, ...], token_name: str | None, actions: ActionsConfig, now: float
) -> list[AlertTrial]:
    token = TokenStore(actions).named(token_name)
    return [_try_alert(alert, rules, token, now) for alert in notification.alerts]


def _try_alert(alert: Alert, rules: tuple[Rule, ...], token: Token | None, now: float) -> AlertTrial:
    starts = alert.startsAt.timestamp()
    verdicts: list[Verdict] = []
    first: Verdict | None = None
    for rule in rules:
        mismatch = rule.mismatch(alert.labels)
        if mismatch is not None:
            actual = alert.labels.get(mismatch.name, "")
            verdicts.append(Verdict(rule.name, "no_match", f"{mismatch} does not match {mismatch.name}={actual!r}"))
        elif first is not None:
            verdicts.append(Verdict(rule.name, "shadowed", f"matches, but rule {first.rule} comes first and decides"))
        else:
            first = _decide(rule, alert, starts, token, now)
            verdicts.append(first)
    firing = round(max(now - starts, 0.0), 3)
    name = alert.labels.get("alertname")
    if alert.status == "resolved":
        return AlertTrial(alert.fingerprint, name, alert.status, firing, "resolved", None, tuple(verdicts))
    if first is None:
        return AlertTrial(alert.fingerprint, name, alert.status, firing, "no_rule", None, tuple(verdicts))
    return AlertTrial(alert.fingerprint, name, alert.status, firing, first.result, first.rule, tuple(verdicts))


def _decide(rule: Rule, alert: Alert, starts: float, token: Token | None, now: float) -> Verdict:
    if alert.status == "resolved":
        return Verdict(rule.name, "resolved", "resolved alerts never act; they settle a pending verification")
    firing = now - starts
    if firing < rule.config.min_firing:
        return Verdict(rule.name, "too_early", f"firing for {max(firing, 0):.0f}s, less than min_firing")
    try:
        params = rule.params_for(alert.labels)
    except TemplateError as err:
        return Verdict(rule.name, "invalid", f"template yields no target: {err}")
    except ActionError as err:
        return Verdict(rule.name, "invalid", err.detail)
    what = rule.target_of(params)
    if token is None:
        return Verdict(rule.name, "refused", "remediation.token names no configured token")
    if token.expired(dt.datetime.fromtimestamp(now, dt.UTC)):
        return Verdict(rule.name, "refused", f"token {token.name!r} has expired")
    if not token.allows(rule.spec.qualified_name, str(params[rule.spec.target_param])):
        return Verdict(rule.name, "refused", f"{what}: token {token.name!r} may not")
    if rule.config.dry_run:
        return Verdict(rule.name, "dry_run", f"{what}: dry run, would call nothing")
    return Verdict(rule.name, "acted", f"{what}: would act as token {token.name!r}")


def as_json(trials: list[AlertTrial]) -> dict[str, Any]:
    return {"alerts": [asdict(t) for t in trials], "not_checked": NOT_CHECKED}


def as_text(trials: list[AlertTrial], truncated: int) -> str:
    lines: list[str] = []
    for t in trials:
        since = f"firing for {_duration(t.firing_for)}" if t.status == "firing" else "resolved"
        lines.append(f"alert {t.fingerprint} ({t.alertname or 'no alertname'}, {since})")
        for v in t.rules:
            lines.append(f"  rule {v.rule}: {v.result} - {v.detail}")
        by = f" by rule {t.decided_by}" if t.decided_by else ""
        lines.append(f"  decision: {t.decision}{by}")
    if not trials:
        lines.append("the payload holds no alerts")
    if truncated:
        lines.append(f"warning: Alertmanager left {truncated} alert(s) out of this payload (max_alerts)")
    lines.append(f"not checked offline: {NOT_CHECKED}")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
