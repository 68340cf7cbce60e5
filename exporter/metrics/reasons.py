"""The closed sets of `reason` label values the exporter's own metrics carry.

Defined here, in the lowest layer that needs them, so the metrics that count failures and
the code that raises them (sources, actions) share one vocabulary without importing upwards.
"""

from __future__ import annotations

from typing import Literal

PollFailureReason = Literal[
    "timeout", "connection", "http_status", "auth", "rate_limited", "bad_response", "sample_limit"
]
"""Why a poll of a target failed (`powerstrip_exporter_target_poll_failures_total{reason}`)."""
POLL_FAILURE_REASONS: tuple[PollFailureReason, ...] = (
    "timeout",
    "connection",
    "http_status",
    "auth",
    "rate_limited",
    "bad_response",
    "sample_limit",
)

ActionFailureReason = Literal[
    "unauthenticated", "forbidden", "not_found", "invalid", "unconfirmed", "cooldown", "upstream", "timeout"
]
"""Why an action request was refused or failed (`powerstrip_exporter_action_failures_total{reason}`)."""
ACTION_FAILURE_REASONS: tuple[ActionFailureReason, ...] = (
    "unauthenticated",
    "forbidden",
    "not_found",
    "invalid",
    "unconfirmed",
    "cooldown",
    "upstream",
    "timeout",
)

ValueRefusalReason = Literal["implausible_value"]
"""Why a value a device reported was not exported (`powerstrip_exporter_target_values_refused_total{reason}`):
`implausible_value` is one the device cannot really have, such as a negative energy counter or a
temperature below absolute zero."""
VALUE_REFUSAL_REASONS: tuple[ValueRefusalReason, ...] = ("implausible_value",)
