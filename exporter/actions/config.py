"""The `actions:` config section: bearer tokens with allow rules, cooldown, brute-force limit."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from exporter.config.types import Duration, SecretFile, SecretStr, StrictModel

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class AllowRule(StrictModel):
    """Which actions (`source.action` or `*`) on which targets (ids, device names or `*`)."""

    actions: Annotated[list[str], Field(min_length=1)]
    targets: Annotated[list[str], Field(min_length=1)]

    @field_validator("actions")
    @classmethod
    def _action_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name != "*" and not re.match(r"^[a-z0-9_]+\.[a-z0-9_]+$", name):
                raise ValueError(f'expected "source.action" or "*", got "{name}"')
        return value


class TokenConfig(StrictModel):
    """One bearer token. Give exactly one of token_sha256, token or token_file."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    token_sha256: str | None = None
    token: SecretStr | None = None
    token_file: SecretFile | None = None
    expires: dt.datetime | None = None
    allow: Annotated[list[AllowRule], Field(min_length=1)]

    @field_validator("token_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_RE.match(value.lower()):
            raise ValueError("expected 64 hex digits (sha256sum of the token)")
        return value.lower() if value else value

    @field_validator("expires", mode="before")
    @classmethod
    def _parse_expiry(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f'expected an RFC 3339 time like 2030-01-01T00:00:00Z, got "{value}"') from None
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValueError("expected a time zone, e.g. 2030-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> TokenConfig:
        given = [k for k in ("token_sha256", "token", "token_file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of token_sha256, token or token_file")
        return self


class AuthFailureLimit(StrictModel):
    max_failures: Annotated[int, Field(ge=1, le=10_000)] = 10
    window: Duration = 60.0


class ActionsConfig(StrictModel):
    tokens: list[TokenConfig] = Field(default_factory=list)
    cooldown: Duration = 60.0
    timeout: Duration = 15.0
    auth_failures: AuthFailureLimit = Field(default_factory=AuthFailureLimit)

    @model_validator(mode="after")
    def _unique_names(self) -> ActionsConfig:
        names = [t.name for t in self.tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate token names: {', '.join(dupes)}")
        return self
