"""CloudTrax request signing (README "Authentication").

    authorization = "key=" + KEY + ",timestamp=" + unix_seconds + ",nonce=" + NONCE
    Signature     = hex(HMAC_SHA256(secret, authorization + path_and_query + body_bytes))

The body is the exact byte string sent on the wire, and the path includes the
raw query string (`/powerstrip/1/usage?period=day`), as every working client does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

API_VERSION = "1"
NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 32


def new_nonce(length: int = NONCE_LENGTH) -> str:
    """A fresh alphanumeric nonce; 8-32 characters from [A-Za-z0-9] are known to work.

    Lowercase hex from one `token_hex` call: alphanumeric, 4 random bits a character (128 bits
    for the default 32), and one system call instead of one per character.
    """
    return secrets.token_hex((length + 1) // 2)[:length]


def authorization(key: str, timestamp: int, nonce: str) -> str:
    """The Authorization header value; no spaces inside."""
    return f"key={key},timestamp={timestamp},nonce={nonce}"


def signature(secret: str, authorization_value: str, path_and_query: str, body: bytes = b"") -> str:
    """Lowercase hex HMAC-SHA256 over authorization + path (+ query) + body bytes."""
    message = authorization_value.encode("utf-8") + path_and_query.encode("utf-8") + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    key: str, secret: str, path_and_query: str, body: bytes, *, timestamp: int, nonce: str
) -> dict[str, str]:
    """Every header a CloudTrax request needs besides Host and Content-Length."""
    auth = authorization(key, timestamp, nonce)
    return {
        "Authorization": auth,
        "Signature": signature(secret, auth, path_and_query, body),
        "OpenMesh-API-Version": API_VERSION,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
