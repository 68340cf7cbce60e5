"""The CloudTrax client's errors. Each is a `PollError`, so the engine counts it by `reason` unchanged.

Callers that need more than the reason read `status`, `code` and `errors`; the
one subclass, `CloudTraxNotFoundError`, is the one failure a caller handles. Messages never hold the key or secret:
the client redacts server text before it builds an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter.metrics.reasons import PollFailureReason
from exporter.sources.api import PollError

AUTH_CODES = frozenset(range(13000, 13017))
"""13000-13016: signature, nonce, timestamp, version, key and scope failures (error_codes.md)."""

PERMISSION_CODES = frozenset({1001, 1018, 12047, 30000, 30001, 30002})
"""Key lacks the rights for the call; counted as `auth` too, since the fix is the same: the key."""

NOT_FOUND_CODES = frozenset({1003, 1017})
CLOCK_SKEW = 13002


@dataclass(frozen=True, slots=True)
class ApiErrorDetail:
    """One element of a CloudTrax `{"errors": [...]}` envelope."""

    code: int | None
    message: str = ""
    context: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        text = f"CloudTrax error {self.code}" if self.code is not None else "CloudTrax error"
        if self.message:
            text += f" {self.message!r}"
        if self.context:
            text += f" ({self.context})"
        return text


class CloudTraxError(PollError):
    """A failed CloudTrax call; `errors` are the envelope's details (redacted), if one came."""

    def __init__(
        self,
        reason: PollFailureReason,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[ApiErrorDetail] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason, message, status=status, retry_after=retry_after)
        self.errors: tuple[ApiErrorDetail, ...] = tuple(errors)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(e.code for e in self.errors if e.code is not None)

    @property
    def code(self) -> int | None:
        """The first CloudTrax error code, if the server sent an envelope."""
        codes = self.codes
        return codes[0] if codes else None


class CloudTraxNotFoundError(CloudTraxError):
    """The object does not exist (codes 1003/1017), e.g. a strip deleted between list and get.

    Caught by the network target, which drops the strip from that poll. A bare 404 without an
    envelope is a plain `CloudTraxError`: more likely a wrong base_url.
    """


def classify_status(status: int, errors: Sequence[ApiErrorDetail]) -> tuple[type[CloudTraxError], PollFailureReason]:
    """Which error class and reason a non-2xx answer maps to. The envelope's codes decide first."""
    codes = {e.code for e in errors if e.code is not None}
    if codes & (AUTH_CODES | PERMISSION_CODES):
        return CloudTraxError, "auth"
    if status == 429:
        return CloudTraxError, "rate_limited"
    if codes & NOT_FOUND_CODES:
        return CloudTraxNotFoundError, "http_status"
    if not errors and status == 401:
        return CloudTraxError, "auth"
    return CloudTraxError, "http_status"
