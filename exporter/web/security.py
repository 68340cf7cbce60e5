"""What `--web.config.file` asks of the listeners, re-read on reload: the TLS context each handshake
uses, response headers, and bcrypt basic auth in front of every page but `/-/healthy` and the action API.

What of the file is not applied (TLS settings Python's `ssl` cannot honour, HTTP/2) is logged once,
with the key, instead of the file being refused; the schema is `config_file.py`, the TLS context
`tls.py`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path

import bcrypt
import structlog
from aiohttp import web

from exporter.actions.auth import FailureLimiter, client_key
from exporter.config.errors import ConfigError
from exporter.web.config_file import TLSServerConfig, WebConfig, load_web_config
from exporter.web.rate_limit import RateLimiter
from exporter.web.tls import build_context

log = structlog.get_logger("exporter.web")

OPEN_PATHS = frozenset({"/-/healthy"})
"""Always reachable without basic auth, like exporter-toolkit's health endpoint."""
TOKEN_PATHS = frozenset({"/-/reload"})
"""Also reachable with a bearer token of the action API instead of a password; the handler checks it."""
ACTION_PREFIX = "/api/v1/"
"""The action API has its own bearer tokens."""

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
        self._rate_limiter: RateLimiter | None = None
        """`rate_limit`, when it has an interval; kept across reloads that do not change it."""
        """What one check takes, measured (a moving average): it sets how many may queue."""
        self._failed = FailureLimiter(1, _FAILED_RECENTLY)
        """Clients with a wrong password in the last `_FAILED_RECENTLY` seconds."""

    def _build_context(self, tls: TLSServerConfig) -> tuple[ssl.SSLContext, list[str]]:
        return build_context(tls, str(self.path))

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
            self._rate_limiter = RateLimiter(config.rate_limit)
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
