"""The `source: cloudtrax` entry of `targets[]`: one account key and the networks it polls."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema, model_validator

from exporter.config.errors import show
from exporter.config.types import (
    Duration,
    FilePath,
    Secret,
    SecretFile,
    SecretStr,
    TargetEntry,
    format_duration,
    pick_secret,
)
from exporter.sources.cloudtrax.client import DEFAULT_BASE_URL, UsagePeriod

USAGE_WINDOW_SECONDS: dict[str, float] = {
    "2hours": 2 * 3600.0,
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 28 * 86400.0,
}
"""How much history each usage period covers (the shortest month, to be safe)."""


def _parse_networks(value: object) -> tuple[int, ...] | Literal["all"]:
    """`all`, or a non-empty list of distinct positive network ids."""
    if value == "all":
        return "all"
    if not isinstance(value, list | tuple):
        raise ValueError(f'expected a list of network ids or "all", got {show(value)}')
    if not value:
        raise ValueError('must list at least one network id, or be "all"')
    ids: list[int] = []
    for i, item in enumerate(value):
        number: int | None = None
        if isinstance(item, int) and not isinstance(item, bool):
            number = item
        elif isinstance(item, str) and item.strip().isdigit():
            number = int(item.strip())
        if number is None or number <= 0:
            raise ValueError(f"item {i}: expected a positive network id, got {show(item)}")
        if number in ids:
            raise ValueError(f"item {i}: network {number} is listed twice")
        ids.append(number)
    return tuple(ids)


NetworkSelection = Annotated[
    tuple[int, ...] | Literal["all"],
    BeforeValidator(_parse_networks),
    PlainSerializer(lambda v: v if v == "all" else list(v)),
    WithJsonSchema({"oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "integer", "minimum": 1}}]}),
]


def _parse_base_url(value: object) -> str:
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials; use key and secret")
        if parts.scheme in ("http", "https") and parts.hostname and not parts.query and not parts.fragment:
            return value.strip().rstrip("/")
    raise ValueError(f"expected an http(s) URL, got {show(value)}")


BaseUrl = Annotated[str, BeforeValidator(_parse_base_url)]


class CloudTraxEntry(TargetEntry):
    """One CloudTrax account key. Each network it polls becomes one target named by its id."""

    source: Literal["cloudtrax"]
    key: SecretStr
    secret: SecretStr | None = None
    secret_file: SecretFile | None = None
    base_url: BaseUrl = DEFAULT_BASE_URL
    networks: NetworkSelection
    usage_interval: Duration = 900.0
    usage_period: UsagePeriod = "2hours"
    settings_interval: Duration = 3600.0
    discovery_interval: Duration = 600.0
    insecure_skip_verify: bool = False
    ca_file: FilePath | None = None

    deprecated_keys: ClassVar[dict[str, str]] = {"tls_insecure_skip_verify": "insecure_skip_verify"}

    @model_validator(mode="after")
    def _checks(self) -> CloudTraxEntry:
        pick_secret(self, "secret", "secret_file")
        window = USAGE_WINDOW_SECONDS[self.usage_period]
        if self.usage_interval > window:
            raise ValueError(
                f"usage_interval {format_duration(self.usage_interval)} is longer than the "
                f"{self.usage_period} usage_period it reads, so usage samples would be missed"
            )
        if self.insecure_skip_verify and self.ca_file is not None:
            raise ValueError("set either ca_file or insecure_skip_verify, not both")
        return self

    def credential(self) -> Secret:
        """The secret from `secret` or `secret_file` (the validator guarantees exactly one)."""
        secret = self.secret if self.secret is not None else self.secret_file
        assert secret is not None
        return secret
