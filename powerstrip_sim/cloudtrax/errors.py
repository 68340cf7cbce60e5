"""The simulator's error answers, in the documented `{"errors": [...]}` envelope."""

from __future__ import annotations

from typing import Any


class SimApiError(Exception):
    """Raised by state and auth code; the app turns it into an HTTP error with the envelope."""

    def __init__(
        self, status: int, code: int, message: str, context: str = "", values: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.context = context
        self.values = values or {}

    def body(self) -> dict[str, Any]:
        return {
            "errors": [{"code": self.code, "message": self.message, "context": self.context, "values": self.values}]
        }


AUTH_MESSAGES: dict[int, str] = {
    13000: "Signature wrong.",
    13001: "No nonce or timestamp in header.",
    13002: "Timestamp too old or in the future.",
    13003: "Nonce already exists.",
    13004: "Version is not valid.",
    13007: "Expired key",
    13009: "Network id doesn't match key.",
    13011: "Unknown key.",
    13012: "Nonce length ($length$) too long.  Max is $max$.",
    13015: "Empty signature header.",
    13016: "Key is expired.",
}


def not_found(context: str) -> SimApiError:
    return SimApiError(404, 1017, "Element not found.", context)


def missing_parameter(context: str) -> SimApiError:
    return SimApiError(400, 1006, "Missing parameter.", context)
