"""Alertmanager's webhook payload, version 4, validated before anything is decided."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ALERTS = 1000
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
LabelSet = Annotated[
    dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=4096)]], Field(max_length=128)
]


def parse_time(value: object) -> dt.datetime:
    """RFC 3339 as Go writes it (up to nanoseconds); always timezone-aware."""
    if isinstance(value, str):
        match = _TIME.match(value)
        if match:
            base, fraction, zone = match.groups()
            micros = (fraction or "0")[:6].ljust(6, "0")
            try:
                return dt.datetime.fromisoformat(f"{base}.{micros}{'+00:00' if zone == 'Z' else zone}")
            except ValueError:
                pass
    raise ValueError(f"expected an RFC 3339 time, got {str(value)[:40]!r}")


class _Lenient(BaseModel):
    """Alertmanager may add fields in later versions: unknown keys are ignored, known ones are strict."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Alert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: LabelSet
    startsAt: dt.datetime  # Alertmanager's field name
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{1,32}$")]

    @field_validator("startsAt", mode="before")
    @classmethod
    def _time(cls, value: object) -> dt.datetime:
        return parse_time(value)


class Notification(_Lenient):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: Annotated[str, Field(max_length=256)]
    alerts: Annotated[list[Alert], Field(max_length=MAX_ALERTS)]
    truncatedAlerts: Annotated[int, Field(ge=0, le=2**31)] = 0  # Alertmanager's field name
    """Alerts Alertmanager left out because of the webhook's `max_alerts`."""
