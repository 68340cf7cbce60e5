"""Bearer tokens checked in constant time on digests, allow rules, and a brute-force limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from exporter.actions.config import ActionsConfig, AllowRule

_MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    digest: bytes
    expires: dt.datetime | None
    allow: tuple[AllowRule, ...]

    def allows(self, action: str, target: str) -> bool:
        return any(
            ("*" in rule.actions or action in rule.actions) and ("*" in rule.targets or target in rule.targets)
            for rule in self.allow
        )


class AuthError(Exception):
    """Why a bearer token was refused; never includes the token itself."""


class TokenStore:
    def __init__(self, config: ActionsConfig) -> None:
        tokens = []
        for t in config.tokens:
            if t.token_sha256 is not None:
                digest = bytes.fromhex(t.token_sha256)
            else:
                secret = t.token if t.token is not None else t.token_file
                assert secret is not None
                digest = hashlib.sha256(secret.reveal().encode()).digest()
            tokens.append(Token(t.name, digest, t.expires, tuple(t.allow)))
        self.tokens = tuple(tokens)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def authenticate(self, authorization: str | None, now: dt.datetime | None = None) -> Token:
        if not authorization:
            raise AuthError("missing bearer token")
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials or " " in credentials:
            raise AuthError("malformed Authorization header; expected 'Bearer <token>'")
        presented = hashlib.sha256(credentials.encode()).digest()
        match: Token | None = None
        for token in self.tokens:  # no early exit: the time taken does not depend on which token matched
            if hmac.compare_digest(presented, token.digest):
                match = token
        if match is None:
            raise AuthError("invalid token")
        if match.expires is not None and (now or dt.datetime.now(dt.UTC)) >= match.expires:
            raise AuthError(f"token {match.name!r} expired")
        return match


class FailureLimiter:
    """Sliding-window count of auth failures per client address."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        stamps = self._failures.get(client)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[client]
        return stamps

    def retry_after(self, client: str, now: float | None = None) -> float | None:
        """Seconds until `client` may try again, or None if not blocked."""
        now = time.monotonic() if now is None else now
        stamps = self._recent(client, now)
        if len(stamps) >= self.max_failures:
            return max(1.0, stamps[0] + self.window - now)
        return None

    def record(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        stamps = self._failures.setdefault(client, deque())
        self._failures.move_to_end(client)
        stamps.append(now)
        while len(stamps) > self.max_failures:
            stamps.popleft()
        while len(self._failures) > _MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)


class Cooldown:
    """At most one action per (action, target) per `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[tuple[str, str], float] = {}

    def remaining(self, action: str, target: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        last = self._last.get((action, target))
        return 0.0 if last is None else max(0.0, last + self.seconds - now)

    def start(self, action: str, target: str, now: float | None = None) -> None:
        self._last[(action, target)] = time.monotonic() if now is None else now
