"""`--web.config.file`: the exporter-toolkit schema (TLS, response headers, bcrypt basic auth) and
its loading. Every file exporter-toolkit accepts validates, relative paths included (they are
relative to the web config file, as there); names it does not know are refused with their key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError, field_validator, model_validator

from exporter.config.errors import ConfigError, from_validation_error
from exporter.config.types import Duration, SecretStr, StrictModel
from exporter.config.yamlerrors import yaml_syntax_error
from exporter.web.tls_names import CIPHER_SUITES, CURVES, HEADERS, TLS13_CIPHER_SUITES

BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
"""A whole bcrypt hash: version, cost 04-31, 22 characters of salt and 31 of hash (60 in all)."""


class TLSServerConfig(StrictModel):
    cert_file: str | None = None
    key_file: str | None = None
    cert: str | None = None
    """The certificate (chain) itself, PEM, instead of `cert_file`; the file wins when both are set."""
    key: SecretStr | None = None
    """The private key itself, PEM, instead of `key_file`; the file wins when both are set."""
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "RequireClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    client_ca_file: str | None = None
    client_ca: str | None = None
    """The client CA certificates themselves, PEM, instead of `client_ca_file` (which wins)."""
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] | None = None
    cipher_suites: list[str] = []
    curve_preferences: list[str] = []
    prefer_server_cipher_suites: bool = True
    client_allowed_sans: list[str] = []
    """When set, every request needs a verified client certificate with one of these subject alternative
    names (DNS name, IP address, e-mail address or URI), as exporter-toolkit checks at the handshake."""

    @field_validator("cipher_suites")
    @classmethod
    def _known_suites(cls, suites: list[str]) -> list[str]:
        for name in suites:
            if name not in CIPHER_SUITES and name not in TLS13_CIPHER_SUITES:
                example = next(iter(CIPHER_SUITES))
                raise ValueError(f"unknown cipher suite {name!r} (Go crypto/tls names, e.g. {example})")
        return suites

    @field_validator("curve_preferences")
    @classmethod
    def _known_curves(cls, curves: list[str]) -> list[str]:
        for name in curves:
            if name not in CURVES:
                raise ValueError(f"unknown curve {name!r} (known: {', '.join(CURVES)})")
        return curves

    @model_validator(mode="after")
    def _certificate_and_key(self) -> TLSServerConfig:
        if not (self.cert_file or self.cert):
            raise ValueError("missing one of cert or cert_file")
        if not (self.key_file or self.key):
            raise ValueError("missing one of key or key_file")
        return self

    def relative_to(self, directory: Path) -> TLSServerConfig:
        """The file paths joined to `directory` (the web config's), as exporter-toolkit resolves them."""
        files = {"cert_file": self.cert_file, "key_file": self.key_file, "client_ca_file": self.client_ca_file}
        return self.model_copy(update={k: str(directory / v) for k, v in files.items() if v})


class RateLimit(StrictModel):
    """exporter-toolkit's `rate_limit`: `burst` requests at once, then one per `interval`; 429 beyond."""

    burst: int = 0
    interval: Duration | None = None
    """Absent or 0: no limit."""

    @field_validator("interval", mode="before")
    @classmethod
    def _zero_is_off(cls, value: object) -> object:
        return None if value in (0, "0", "0s") else value


class HTTPServerConfig(StrictModel):
    headers: dict[str, str] = {}
    http2: bool | None = None
    """exporter-toolkit's default is true; the server here speaks HTTP/1.1 only, so true is ignored."""

    @field_validator("headers")
    @classmethod
    def _allowed_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in HEADERS:
                raise ValueError(f"header {name!r} cannot be configured (allowed: {', '.join(HEADERS)})")
            allowed = HEADERS[name]
            if allowed is not None and value.lower() not in allowed:
                raise ValueError(f"header {name}: expected one of {', '.join(allowed)}, got {value!r}")
            if any(ch in value for ch in "\r\n\0"):
                raise ValueError(f"header {name}: value must be one line")
        return headers


class WebConfig(StrictModel):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    rate_limit: RateLimit = RateLimit()
    basic_auth_users: dict[str, str] = {}

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"user {user!r}: expected a bcrypt hash ($2y$...)")
            if not BCRYPT_HASH.fullmatch(hashed):
                raise ValueError(
                    f"user {user!r}: not a whole bcrypt hash (60 characters: $2y$, a cost from 04 to 31, $, "
                    f"then 53 of [./A-Za-z0-9]; got {len(hashed)}); no password would ever match it"
                )
        return users


def load_web_config(path: Path) -> WebConfig:
    origin = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError([f"cannot read web config file {origin}: {err.strerror or err}"]) from None
    except yaml.YAMLError as err:
        raise yaml_syntax_error(origin, err) from None
    try:
        config = WebConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([f"{origin}: {line}" for line in from_validation_error(exc, set(), WebConfig)]) from None
    if config.tls_server_config is not None:
        config = config.model_copy(update={"tls_server_config": config.tls_server_config.relative_to(path.parent)})
    return config
