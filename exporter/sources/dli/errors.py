"""The DLI client's errors: `PollError`s, so a poll lets them through unchanged."""

from __future__ import annotations

from exporter.metrics.reasons import PollFailureReason
from exporter.sources.api import PollError


class DliError(PollError):
    """Any failed DLI call; `reason` is the engine's failure reason, `status` the HTTP status if one came."""

    def __init__(
        self, reason: PollFailureReason, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, message, status=status, retry_after=retry_after)


class DliAuthError(DliError):
    """401 (wrong credentials) or 403 (CSRF check or missing permission)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__("auth", message, status=status)


def http_error(message: str, *, status: int, retry_after: float | None = None) -> DliError:
    """Any other unexpected HTTP status (409: a locked outlet)."""
    reason: PollFailureReason = "rate_limited" if status == 429 else "http_status"
    return DliError(reason, message, status=status, retry_after=retry_after)


def bad_response(message: str) -> DliError:
    """Not JSON, an HTML page, or JSON of the wrong shape."""
    return DliError("bad_response", message)
