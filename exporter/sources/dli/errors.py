"""The DLI client's errors: `PollError`s, so a poll lets them through unchanged."""

from __future__ import annotations

from exporter.metrics.reasons import PollFailureReason
from exporter.sources.api import PollError


class DliAuthError(PollError):
    """401 (wrong credentials) or 403 (CSRF check or missing permission): the target catches a 403
    on the meters, so an account without meter rights still gets its outlets."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__("auth", message, status=status)


def http_error(message: str, *, status: int, retry_after: float | None = None) -> PollError:
    """Any other unexpected HTTP status (409: a locked outlet)."""
    reason: PollFailureReason = "rate_limited" if status == 429 else "http_status"
    return PollError(reason, message, status=status, retry_after=retry_after)


def bad_response(message: str) -> PollError:
    """Not JSON, an HTML page, or JSON of the wrong shape."""
    return PollError("bad_response", message)
