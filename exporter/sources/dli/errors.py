"""Typed client errors. They are `PollError`s so a poll can let them through unchanged."""

from __future__ import annotations

from exporter.metrics.reasons import PollFailureReason
from exporter.sources.api import PollError


class DliError(PollError):
    """Any failed DLI call; `reason` is the engine's failure reason."""

    def __init__(
        self, reason: PollFailureReason, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, message, retry_after=retry_after)
        self.status = status


class DliAuthError(DliError):
    """401 (wrong credentials) or 403 (CSRF check or missing permission)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__("auth", message, status=status)


class DliHttpError(DliError):
    """Any other unexpected HTTP status."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        reason: PollFailureReason = "rate_limited" if status == 429 else "http_status"
        super().__init__(reason, message, status=status, retry_after=retry_after)


class OutletLockedError(DliError):
    """409: the outlet is locked (only the keypad can unlock it), so it cannot change."""

    def __init__(self, message: str, *, outlet: int | None) -> None:
        super().__init__("http_status", message, status=409)
        self.outlet = outlet


class DliBadResponse(DliError):
    """Not JSON, an HTML page, or JSON of the wrong shape."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_response", message)
