"""The `actions:` config section: bearer tokens with allow rules, cooldown, brute-force limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, PlainSerializer, field_validator, model_validator

from exporter.config.types import Duration, SecretFile, SecretStr, StrictModel

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MIN_TOKEN_LENGTH = 16


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
    token_sha256: Annotated[str | None, PlainSerializer(lambda v: None if v is None else "<secret>")] = None
    """Shown as <secret> in /config: an unsalted digest of a weak token could be cracked offline."""
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
        secret = self.token if self.token is not None else self.token_file
        if secret is not None and len(secret.reveal()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"{given[0]}: a token must have at least {MIN_TOKEN_LENGTH} characters")
        return self

    def digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        secret = self.token if self.token is not None else self.token_file
        assert secret is not None
        return hashlib.sha256(secret.reveal().encode()).digest()


class AuthFailureLimit(StrictModel):
    max_failures: Annotated[int, Field(ge=1, le=10_000)] = 10
    window: Duration = 60.0


class RefusalLogLimit(StrictModel):
    """How many refused requests per client are logged per window; the rest are only counted."""

    lines_per_client: Annotated[int, Field(ge=1, le=10_000)] = 5
    window: Duration = 60.0


class ActionsConfig(StrictModel):
    tokens: list[TokenConfig] = Field(default_factory=list)
    cooldown: Duration = 60.0
    timeout: Duration = 15.0
    auth_failures: AuthFailureLimit = Field(default_factory=AuthFailureLimit)
    refusal_log: RefusalLogLimit = Field(default_factory=RefusalLogLimit)
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Reverse proxies in front of the exporter: behind them the client is read from X-Forwarded-For,
    so one client's failed logins do not lock out everyone who comes through the same proxy."""

    @model_validator(mode="after")
    def _unique_tokens(self) -> ActionsConfig:
        names = [t.name for t in self.tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate token names: {', '.join(dupes)}")
        seen: dict[bytes, str] = {}
        for t in self.tokens:
            other = seen.setdefault(t.digest(), t.name)
            if other != t.name:
                raise ValueError(f"tokens {other!r} and {t.name!r} are the same token")
        return self
