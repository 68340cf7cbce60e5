"""The remediation endpoints' requests and answers: refusals before anything is decided, the
webhook payload, and the answer to a notification's decisions.

Apart from the service so that `remediation try` reads a payload exactly as the webhook does
without loading the service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from exporter.actions.body import BodyProblem, body_of
from exporter.metrics.remediation import RejectReason
from exporter.remediation.payload import Notification

MAX_PAYLOAD_BYTES = 64 * 1024
"""The listener's client_max_size: about a hundred alerts. Alertmanager's `max_alerts` keeps under it."""
MAX_CLOSE_BODY_BYTES = 1024
NOT_READY_RETRY_AFTER = "10"
"""Seconds Alertmanager is asked to wait before sending a notification with a `not_ready` alert again."""
TRUNCATION_ADVICE = (
    "Alertmanager's max_alerts left these alerts out of the notification, so they are never decided: "
    "raise max_alerts (the webhook takes 64 KiB, about 100 alerts) or group_by more labels so that "
    "each group holds fewer alerts"
)
_BODY_REASONS: dict[BodyProblem, RejectReason] = {
    "too_large": "too_large",
    "timeout": "timeout",
    "unreadable": "bad_request",
}


class WebhookError(Exception):
    """A request refused before anything was decided: answered `status`, counted by `reason`."""

    def __init__(self, status: int, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason: RejectReason = reason
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


def read_body(request: web.Request, limit: int) -> bytes:
    """The body as the listener read it (`exporter.actions.body`), bounded in size and time."""
    read = body_of(request)
    refusal = read.refusal(limit)
    if refusal is not None:
        assert read.problem is not None
        status, detail = refusal
        raise WebhookError(status, _BODY_REASONS[read.problem], detail)
    return read.data


def check_empty_body(request: web.Request) -> None:
    body = read_body(request, MAX_CLOSE_BODY_BYTES).strip()
    if body and body != b"{}":
        raise WebhookError(400, "bad_request", "request body must be empty or {}")


def parse_notification(body: bytes, content_type: str) -> Notification:
    """An Alertmanager webhook body as a `Notification`, or the `WebhookError` to answer with."""
    if content_type != "application/json":
        detail = f"unsupported content type {content_type!r}; Alertmanager sends application/json"
        raise WebhookError(415, "unsupported_media_type", detail)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookError(400, "bad_request", "request body is not valid JSON") from None
    try:
        return Notification.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()[:5]
        )
        detail = f"not an Alertmanager webhook payload (version 4): {problems[:500]}"
        raise WebhookError(400, "bad_request", detail) from None


def refused(err: WebhookError, headers: dict[str, str]) -> web.Response:
    return web.json_response({"ok": False, "detail": err.detail}, status=err.status, headers=headers)


def answer(decisions: list[Decision]) -> web.Response:
    """200 with every decision; 503 when some alert's target has no data yet (Alertmanager retries a
    5xx, and the retry decides it); else 422 when some alert could not be turned into an action."""
    body: dict[str, Any] = {"ok": True, "detail": "decided", "decisions": [d.as_json() for d in decisions]}
    waiting = sum(1 for d in decisions if d.result == "not_ready")
    invalid = sum(1 for d in decisions if d.result == "invalid")
    if waiting:
        body.update(ok=False, detail=f"{waiting} alert(s) name a target with no data yet; send them again")
        return web.json_response(body, status=503, headers={"Retry-After": NOT_READY_RETRY_AFTER})
    if invalid:
        body.update(ok=False, detail=f"{invalid} alert(s) could not be turned into an action")
        return web.json_response(body, status=422)
    return web.json_response(body)
