"""`--web.config.file`: exporter-toolkit style TLS, response headers and bcrypt basic auth, re-read on reload.

Every file exporter-toolkit accepts is accepted, relative paths included (they are relative to the
web config file, as there). Where a setting has no meaning here (TLS 1.3 cipher suites, which Go
ignores too; a Go suite this OpenSSL lacks; HTTP/2) or Python's `ssl` can do only part of it (several
curves), what is left out is logged once, with the key, instead of the file being refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import os
import re
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Literal

import bcrypt
import structlog
import yaml
from aiohttp import web
from pydantic import ValidationError, field_validator, model_validator

from exporter.actions.auth import FailureLimiter, client_key
from exporter.config.errors import ConfigError, from_validation_error
from exporter.config.types import Duration, SecretStr, StrictModel
from exporter.config.yamlerrors import yaml_syntax_error
from exporter.web.tls_names import CIPHER_SUITES, CURVES, HEADERS, TLS13_CIPHER_SUITES

log = structlog.get_logger("exporter.web")

OPEN_PATHS = frozenset({"/-/healthy"})
"""Always reachable without basic auth, like exporter-toolkit's health endpoint."""
TOKEN_PATHS = frozenset({"/-/reload"})
"""Also reachable with a bearer token of the action API instead of a password; the handler checks it."""
ACTION_PREFIX = "/api/v1/"
"""The action API has its own bearer tokens."""

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,  # exporter-toolkit's older name of RequireAnyClientCert
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CACHE_LIMIT = 1024
_BCRYPT_MAX_PASSWORD = 72
"""bcrypt only defines hashes of up to 72 bytes (bcrypt 5 raises beyond); longer passwords never match."""
_BCRYPT_WORKERS = 2
_BCRYPT_MAX_WAIT = 2.0
"""Seconds a login may wait for its password check behind others. Checks queue up to what the workers
finish in that time at the measured cost of a check; beyond that a login is answered 503 at once."""
_FAILED_RECENTLY = 60.0
"""Seconds a client that gave a wrong password counts as suspect: its checks may take only half of the
queue, so a flood of guesses from many addresses still leaves room for the logins of everyone else."""
_BCRYPT_PER_CLIENT = 2
"""Password checks in flight at once from one client; beyond that its logins are answered 429, so one
client guessing passwords in parallel cannot fill the queue for everyone else."""
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
"""A whole bcrypt hash: version, cost 04-31, 22 characters of salt and 31 of hash (60 in all)."""
USER_KEY = web.RequestKey("basic_auth_user", str)
"""Set on a request the basic-auth middleware let in with a password: the user's name."""


class Login(Enum):
    """The outcome of a basic-auth check."""

    OK = "ok"
    REFUSED = "refused"
    """No, wrong or unknown credentials: 401."""
    BUSY = "busy"
    """Too many password checks in flight: 503, try again."""
    CLIENT_BUSY = "client_busy"
    """Too many password checks in flight from this client: 429, try again."""


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
            if not _BCRYPT_HASH.fullmatch(hashed):
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


@contextmanager
def _pem_file(path: str | None, pem: str | None) -> Iterator[str]:
    """A path `ssl` can read the PEM from: `path` itself, or the inline text in an anonymous in-memory
    file (a private temporary file where there is none), gone once loaded. `ssl` loads certificates
    and keys from paths only."""
    if path:
        yield path
        return
    data = (pem or "").encode()
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("powerstrip-exporter-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="powerstrip-exporter-tls-") as directory:  # mode 0700
        file = Path(directory) / "pem"
        file.write_bytes(data)
        yield str(file)


def load_certificate(ctx: ssl.SSLContext, tls: TLSServerConfig, origin: str) -> None:
    """The exporter's certificate and key, from their files or inline, into `ctx`."""
    what = f"{'cert_file' if tls.cert_file else 'cert'}/{'key_file' if tls.key_file else 'key'}"
    key = tls.key.reveal() if tls.key is not None else None
    try:
        with _pem_file(tls.cert_file, tls.cert) as cert_path, _pem_file(tls.key_file, key) as key_path:
            ctx.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([f"{origin}: tls_server_config: cannot load {what}: {err}"]) from None


def _apply_tls(ctx: ssl.SSLContext, tls: TLSServerConfig, origin: str) -> list[str]:
    """Configure `ctx`; what could not be applied, one note per setting (`key: what and why`)."""
    load_certificate(ctx, tls, origin)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _VERSIONS[tls.max_version]
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    notes = _apply_cipher_suites(ctx, tls.cipher_suites) if tls.cipher_suites else []
    if tls.curve_preferences:
        notes += _apply_curves(ctx, tls.curve_preferences)
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.client_ca_file or tls.client_ca:
        name = "client_ca_file" if tls.client_ca_file else "client_ca"
        try:
            if tls.client_ca_file:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
            else:
                ctx.load_verify_locations(cadata=tls.client_ca)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError([f"{origin}: tls_server_config.{name}: cannot load: {err}"]) from None
    return notes


class _RateLimiter:
    """A token bucket like Go's `rate.Limiter`, as exporter-toolkit uses it: starts full with `burst`
    tokens, one more every `interval`; a request without a token is refused."""

    def __init__(self, limit: RateLimit) -> None:
        assert limit.interval is not None
        self.limit = limit
        self._tokens = float(limit.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()  # listeners of the main and the actions address share it

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            assert self.limit.interval is not None
            self._tokens = min(float(self.limit.burst), self._tokens + (now - self._last) / self.limit.interval)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def _apply_cipher_suites(ctx: ssl.SSLContext, suites: list[str]) -> list[str]:
    """TLS 1.0-1.2 suites in the listed order. TLS 1.3 suites and suites this OpenSSL lacks (RC4, 3DES)
    are left out and noted; when none is left, OpenSSL's default TLS 1.2 suites stay."""
    key = "tls_server_config.cipher_suites"
    notes = []
    tls13 = [name for name in suites if name in TLS13_CIPHER_SUITES]
    if tls13:
        notes.append(
            f"{key}: {', '.join(tls13)} ignored: TLS 1.3 suites cannot be chosen (all three are always "
            "enabled, as in Go)"
        )
    wanted = [name for name in suites if name in CIPHER_SUITES]
    usable = [name for name in wanted if _available(CIPHER_SUITES[name])]
    missing = [name for name in wanted if name not in usable]
    if missing:
        notes.append(
            f"{key}: {', '.join(missing)} ignored: not available in this Python's OpenSSL ({ssl.OPENSSL_VERSION})"
        )
    if usable:
        ctx.set_ciphers(":".join(CIPHER_SUITES[name] for name in usable))
    elif wanted:
        notes.append(f"{key}: none of the TLS 1.2 suites listed is available; OpenSSL's default suites are used")
    return notes


def _available(openssl_name: str) -> bool:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.set_ciphers(openssl_name)
    except ssl.SSLError:
        return False
    return any(cipher["name"] == openssl_name for cipher in probe.get_ciphers())


def _apply_curves(ctx: ssl.SSLContext, curves: list[str]) -> list[str]:
    """The key-exchange groups: all of them where this Python can set a list (`set_groups`), else only
    the most preferred one, so that no curve that was not listed is ever used."""
    names = [CURVES[name] for name in curves]
    set_groups = getattr(ctx, "set_groups", None)
    if len(names) > 1 and callable(set_groups):
        try:
            set_groups(":".join(names))
        except (TypeError, ValueError, ssl.SSLError):
            pass
        else:
            return []
    ctx.set_ecdh_curve(names[0])
    if len(names) == 1:
        return []
    return [
        f"tls_server_config.curve_preferences: {', '.join(curves[1:])} ignored: this Python's ssl "
        f"({sys.version.split()[0]}) can restrict the key exchange to one curve only, so {curves[0]} is used alone"
    ]


class WebSecurity:
    """Holds the TLS context the listener uses and the basic-auth users; both change on reload."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.config = WebConfig()
        self.ssl_context: ssl.SSLContext | None = None
        """What the listener is started with; it hands each handshake to `_current_tls`."""
        self._current_tls: ssl.SSLContext | None = None
        self.notes: list[str] = []
        """What of the file is not applied (`key: what and why`), as last logged."""
        self._verified: dict[tuple[str, bytes], None] = {}
        self._dummy_hash = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=4))
        # bcrypt runs on threads of its own, so a flood of bad logins cannot starve the default
        # executor (DNS lookups, gzip of /metrics), and the queue in front of them is bounded.
        self._bcrypt_pool = ThreadPoolExecutor(max_workers=_BCRYPT_WORKERS, thread_name_prefix="bcrypt")
        self._checking: Counter[str] = Counter()
        """Password checks in flight (running or queued), per client."""
        self._check_seconds = 0.1
        self._failed = FailureLimiter(1, _FAILED_RECENTLY)
        self._rate_limiter: _RateLimiter | None = None
        """`rate_limit`, when it has an interval; kept across reloads that do not change it."""
        """Clients with a wrong password in the last `_FAILED_RECENTLY` seconds."""
        """What one check takes, measured (a moving average): it sets how many may queue."""

    def _build_context(self, tls: TLSServerConfig) -> tuple[ssl.SSLContext, list[str]]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        return ctx, _apply_tls(ctx, tls, str(self.path))

    def _note_ignored(self, config: WebConfig, tls_notes: list[str], *, log_notes: bool = True) -> None:
        """Log what of the file is not applied, once: again only when that changes on a reload."""
        notes = list(tls_notes)
        if config.http_server_config.http2:
            notes.append("http_server_config.http2: ignored: the server speaks HTTP/1.1 only")
        if log_notes and notes != self.notes:
            for note in notes:
                key, _, detail = note.partition(": ")
                log.warning("web config setting ignored", file=str(self.path), key=key, detail=detail)
        self.notes = notes

    def _select_context(self, sslobj: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        """SNI hook (runs for every handshake, with or without SNI): use the latest loaded context."""
        if self._current_tls is not None:
            sslobj.context = self._current_tls

    def _apply(self, config: WebConfig) -> None:
        self.config = config
        if config.rate_limit.interval is None:
            self._rate_limiter = None
        elif self._rate_limiter is None or self._rate_limiter.limit != config.rate_limit:
            self._rate_limiter = _RateLimiter(config.rate_limit)
        self._verified.clear()
        costs = [int(h.split("$")[2]) for h in config.basic_auth_users.values() if h.split("$")[2].isdigit()]
        # Unknown users are checked against a hash of the same cost, so timing does not reveal them;
        # making it is also a first measure of what a check costs.
        start = time.perf_counter()
        self._dummy_hash = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=max(costs, default=4)))
        self._check_seconds = time.perf_counter() - start

    def load(self, *, log_notes: bool = True) -> None:
        """First load: decides whether the listener speaks TLS. `log_notes=False`: what is not applied
        is only kept in `notes` (`--config.check` prints it)."""
        if self.path is None:
            return
        config = load_web_config(self.path)
        notes: list[str] = []
        if config.tls_server_config is not None:
            self._current_tls, notes = self._build_context(config.tls_server_config)
            listener, _ = self._build_context(config.tls_server_config)
            listener.sni_callback = self._select_context
            self.ssl_context = listener
        self._apply(config)
        self._note_ignored(config, notes, log_notes=log_notes)

    def reload(self) -> None:
        """Re-read the file. New TLS settings take effect for new connections; TLS itself cannot be toggled."""
        if self.path is None:
            return
        config = load_web_config(self.path)
        if (config.tls_server_config is None) != (self.ssl_context is None):
            raise ConfigError([f"{self.path}: enabling or disabling TLS needs a restart"])
        notes: list[str] = []
        if config.tls_server_config is not None:
            self._current_tls, notes = self._build_context(config.tls_server_config)
        self._apply(config)
        self._note_ignored(config, notes)

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """`on_response_prepare`: the configured headers on every response, errors and 401s included."""
        for name, value in self.config.http_server_config.headers.items():
            response.headers[name] = value

    def close(self) -> None:
        self._bcrypt_pool.shutdown(wait=False, cancel_futures=True)

    async def check_basic_auth(self, header: str | None, client: str = "unknown") -> tuple[Login, str | None]:
        """The outcome, and the user it was for (None when the header names none)."""
        users = self.config.basic_auth_users
        if not header or not header.lower().startswith("basic "):
            return Login.REFUSED, None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return Login.REFUSED, None
        user, sep, password = decoded.partition(":")
        if not sep:
            return Login.REFUSED, None
        secret = password.encode()
        if len(secret) > _BCRYPT_MAX_PASSWORD:
            return Login.REFUSED, user
        key = (user, hashlib.sha256(secret).digest())
        if key in self._verified and user in users:
            return Login.OK, user
        hashed = users.get(user)
        candidate = hashed.encode() if hashed else self._dummy_hash
        # Refuse rather than queue without bound; a busy refusal is not a wrong password (503/429, not 401).
        limit = self._queue_limit()
        if self._failed.retry_after(client) is not None:
            limit //= 2
        if self._checking.total() >= limit:
            return Login.BUSY, user
        if self._checking[client] >= _BCRYPT_PER_CLIENT:
            return Login.CLIENT_BUSY, user
        self._checking[client] += 1
        try:
            loop = asyncio.get_running_loop()
            ok, seconds = await loop.run_in_executor(self._bcrypt_pool, _checkpw, secret, candidate)
        finally:
            self._checking[client] -= 1
            if not self._checking[client]:
                del self._checking[client]
        self._check_seconds += (seconds - self._check_seconds) / 8
        if not (ok and hashed is not None):
            self._failed.record(client)
            return Login.REFUSED, user
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[key] = None
        return Login.OK, user

    def _queue_limit(self) -> int:
        """How many checks may be in flight: as many as the workers finish within `_BCRYPT_MAX_WAIT`."""
        return max(_BCRYPT_WORKERS, int(_BCRYPT_WORKERS * _BCRYPT_MAX_WAIT / max(self._check_seconds, 1e-3)))

    def _allowed_peer(self, request: web.Request) -> bool:
        """`client_allowed_sans`: the verified client certificate names one of them (no list: anyone)."""
        tls = self.config.tls_server_config
        if tls is None or not tls.client_allowed_sans:
            return True
        cert = request.transport.get_extra_info("peercert") if request.transport is not None else None
        names = {_san(kind, value) for kind, value in (cert or {}).get("subjectAltName", ())}
        return not names.isdisjoint(_san("", allowed) for allowed in tls.client_allowed_sans)

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def basic_auth(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            if self._rate_limiter is not None and not self._rate_limiter.allow():
                return web.Response(status=429, text="Too Many Requests\n")
            if not self._allowed_peer(request):
                return web.Response(status=403, text="Client certificate has no allowed subject alternative name.\n")
            if not self.config.basic_auth_users or request.path in OPEN_PATHS or request.path.startswith(ACTION_PREFIX):
                return await handler(request)
            header = request.headers.get("Authorization")
            if request.path in TOKEN_PATHS and header and header.lower().startswith("bearer "):
                return await handler(request)  # the handler checks the action API's bearer token
            outcome, user = await self.check_basic_auth(header, client_key(request.remote or "unknown"))
            if outcome is Login.OK:
                assert user is not None
                request[USER_KEY] = user
                return await handler(request)
            if outcome is Login.BUSY:
                return web.Response(status=503, text="Too many logins being checked; retry.\n", headers=_RETRY)
            if outcome is Login.CLIENT_BUSY:
                return web.Response(status=429, text="Too many logins being checked for you; retry.\n", headers=_RETRY)
            return web.Response(
                status=401,
                text="Unauthorized\n",
                headers={"WWW-Authenticate": 'Basic realm="powerstrip-exporter", charset="UTF-8"'},
            )

        return basic_auth


_RETRY = {"Retry-After": "1"}


def _san(kind: str, value: str) -> str:
    """A subject alternative name as compared: IP addresses in one spelling (`::1`, not `0:0:...:1`)."""
    if kind in ("IP Address", ""):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    return value


def _checkpw(password: bytes, hashed: bytes) -> tuple[bool, float]:
    """`bcrypt.checkpw`, and the seconds it took. Stored hashes are checked whole when the web config is
    loaded (`WebConfig`), so one bcrypt cannot use is refused there, with its user named."""
    start = time.perf_counter()
    try:
        ok = bcrypt.checkpw(password, hashed)
    except ValueError:  # cannot happen for a loaded hash; a refusal all the same
        ok = False
    return ok, time.perf_counter() - start
