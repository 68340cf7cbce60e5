"""Request authentication, checked the way the README describes the real server's checks."""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.sources.cloudtrax.signing import signature
from powerstrip_sim.cloudtrax.errors import AUTH_MESSAGES, SimApiError
from powerstrip_sim.cloudtrax.options import SimulatorOptions

MISSING_VERSION = "0"
"""The vendor README: "0 assumed if this header is missing"."""


def parse_authorization(value: str) -> dict[str, str]:
    """Split `key=..,timestamp=..,nonce=..` into a dict."""
    parts: dict[str, str] = {}
    for item in value.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            parts[name.strip()] = val.strip()
    return parts


def request_api_version(headers: Mapping[str, str]) -> str:
    """The API version a request asks for; a missing (or empty) header means version 0."""
    return headers.get("OpenMesh-API-Version", "").strip() or MISSING_VERSION


@dataclass
class SimKey:
    """An API key. `network_id` set makes it a network key (13009 for other networks)."""

    key: str
    secret: str
    network_id: int | None = None
    expires_at: float | None = None


class Authenticator:
    """Checks Authorization/Signature/version headers, clock skew and nonce reuse."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.keys: dict[str, SimKey] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._nonce_order: deque[tuple[float, str, str]] = deque()

    def add_key(self, key: SimKey) -> None:
        self.keys[key.key] = key

    def error(self, code: int, values: dict[str, str] | None = None) -> SimApiError:
        message = AUTH_MESSAGES[code]
        for name, value in (values or {}).items():
            message = message.replace(f"${name}$", value)
        return SimApiError(self.options.auth_status.get(code, 401), code, message, "authorize", values)

    def check(self, path_qs: str, body: bytes, headers: Mapping[str, str], now: float) -> SimKey:
        """Return the key of a correctly signed request, or raise the first failing check."""
        parts = parse_authorization(headers.get("Authorization", ""))
        nonce = parts.get("nonce", "")
        raw_timestamp = parts.get("timestamp", "")
        if not nonce or not raw_timestamp.lstrip("-").isdigit():
            raise self.error(13001)
        if not headers.get("Signature", "").strip():
            raise self.error(13015)
        if self.options.api_versions and request_api_version(headers) not in self.options.api_versions:
            raise self.error(13004)
        key = self.keys.get(parts.get("key", ""))
        if key is None:
            raise self.error(13011)
        if key.expires_at is not None and key.expires_at <= now:
            raise self.error(13016)
        if len(nonce) > self.options.max_nonce_length:
            raise self.error(13012, {"length": str(len(nonce)), "max": str(self.options.max_nonce_length)})
        auth = headers["Authorization"].strip()
        given = headers["Signature"].strip().lower()
        candidates = [path_qs]
        if self.options.query_signing == "lenient" and "?" in path_qs:
            candidates.append(path_qs.partition("?")[0])
        if not any(hmac.compare_digest(given, signature(key.secret, auth, c, body)) for c in candidates):
            raise self.error(13000)
        if abs(int(raw_timestamp) - now) > self.options.skew_tolerance_seconds:
            raise self.error(13002)
        self._forget_old_nonces(now)
        if (key.key, nonce) in self._nonces:
            raise self.error(13003)
        self._nonces[(key.key, nonce)] = now
        self._nonce_order.append((now, key.key, nonce))
        return key

    def _forget_old_nonces(self, now: float) -> None:
        horizon = now - self.options.nonce_window_seconds
        while self._nonce_order and self._nonce_order[0][0] < horizon:
            _, key, nonce = self._nonce_order.popleft()
            self._nonces.pop((key, nonce), None)

    def check_scope(self, key: SimKey, network_id: int) -> None:
        """A network key may only touch its own network (13009)."""
        if key.network_id is not None and key.network_id != network_id:
            raise self.error(13009)
