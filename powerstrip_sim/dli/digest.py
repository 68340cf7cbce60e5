"""Server side of HTTP Digest (RFC 7616, MD5, qop=auth), plus optional Basic.

Nonces are stateless (timestamp + HMAC), so 50 simulated devices cost nothing
to keep. The nonce count is not checked for replays: this is a test double.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_PAIR_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_auth_params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for match in _PAIR_RE.finditer(text):
        quoted, bare = match.group(2), match.group(3)
        out[match.group(1).lower()] = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted is not None else bare
    return out


@dataclass(frozen=True, slots=True)
class AuthResult:
    user: str | None
    stale: bool = False


class DigestVerifier:
    """Issues challenges and checks `Authorization` headers against a user table."""

    def __init__(
        self,
        users: Callable[[], Mapping[str, str]],
        *,
        realm: str = "DLI Power Controller",
        allow_basic: bool = False,
        nonce_ttl: float = 3600.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._users = users
        self.realm = realm
        self.allow_basic = allow_basic
        self.nonce_ttl = nonce_ttl
        self._wall = wall
        self._secret = os.urandom(16)
        self.opaque = os.urandom(8).hex()

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def new_nonce(self) -> str:
        stamp = format(int(self._wall() * 1000), "x")
        return f"{stamp}{self._sign(stamp)}"

    def _nonce_state(self, nonce: str) -> str:
        """'ok', 'stale' or 'bad'."""
        stamp, sig = nonce[:-24], nonce[-24:]
        if not stamp or not hmac.compare_digest(sig, self._sign(stamp)):
            return "bad"
        try:
            issued = int(stamp, 16) / 1000.0
        except ValueError:
            return "bad"
        return "ok" if self._wall() - issued <= self.nonce_ttl else "stale"

    def challenge(self, *, stale: bool = False) -> str:
        parts = [
            f'realm="{self.realm}"',
            'qop="auth"',
            "algorithm=MD5",
            f'nonce="{self.new_nonce()}"',
            f'opaque="{self.opaque}"',
        ]
        if stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)

    def verify(self, method: str, raw_path_qs: str, header: str | None) -> AuthResult:
        """Who sent this request, or `user=None` if nobody valid did."""
        if not header:
            return AuthResult(None)
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            return self._basic(rest.strip())
        if scheme.lower() != "digest":
            return AuthResult(None)
        p = parse_auth_params(rest)
        user = p.get("username", "")
        password = self._users().get(user)
        if password is None or p.get("realm") != self.realm or p.get("uri") != raw_path_qs:
            return AuthResult(None)
        if p.get("algorithm", "MD5").upper() != "MD5" or p.get("qop") != "auth":
            return AuthResult(None)
        nonce, nc, cnonce = p.get("nonce", ""), p.get("nc", ""), p.get("cnonce", "")
        if not (nonce and nc and cnonce):
            return AuthResult(None)
        ha1 = _md5(f"{user}:{self.realm}:{password}")
        ha2 = _md5(f"{method.upper()}:{raw_path_qs}")
        expected = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        if not hmac.compare_digest(expected, p.get("response", "")):
            return AuthResult(None)
        state = self._nonce_state(nonce)
        if state == "bad":
            return AuthResult(None)
        return AuthResult(user if state == "ok" else None, stale=state == "stale")

    def _basic(self, token: str) -> AuthResult:
        if not self.allow_basic:
            return AuthResult(None)
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(None)
        known = self._users().get(user)
        if known is None or not hmac.compare_digest(known.encode(), password.encode()):
            return AuthResult(None)
        return AuthResult(user)
