"""The reference's three signature vectors, and the header set every request carries."""

from __future__ import annotations

import re

import pytest

from exporter.sources.cloudtrax.signing import authorization, new_nonce, signature, signed_headers
from tests.cloudtrax.conftest import KEY, SECRET

AUTH = authorization(KEY, 1700000000, "AbCdEfGh")


def test_authorization_has_no_spaces() -> None:
    value = authorization(KEY, 1700000000, "AbCdEfGh")
    assert value == f"key={KEY},timestamp=1700000000,nonce=AbCdEfGh"


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/powerstrip/network/12345/list", b"", "6134f53c44fd251f727d782d61d1f9fe8bc5f69f5da4807d4435bbc62f24e67e"),
        (
            "/powerstrip/123456/usage?period=day",
            b"",
            "fce8c83eaacea80bc1d74be1a33d48bfba1fd0ea271c6a489c665ff90a123070",
        ),
        (
            "/powerstrip/123456",
            b'{"name":"garage"}',
            "8a6c160e6c51c4cec1b4cf40201c204186fca817b96b8d869ba9bccaa7b8d1fd",
        ),
    ],
    ids=["get-list", "get-usage-with-query", "put-with-body"],
)
def test_reference_vectors(path: str, body: bytes, expected: str) -> None:
    assert signature(SECRET, AUTH, path, body) == expected


def test_body_bytes_change_the_signature() -> None:
    compact = signature(SECRET, AUTH, "/powerstrip/123456", b'{"name":"garage"}')
    spaced = signature(SECRET, AUTH, "/powerstrip/123456", b'{"name": "garage"}')
    assert compact != spaced


def test_nonces_are_fresh_and_alphanumeric() -> None:
    nonces = {new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", n) for n in nonces)


def test_signed_headers() -> None:
    headers = signed_headers(KEY, SECRET, "/powerstrip/network/12345/list", b"", timestamp=1700000000, nonce="AbCdEfGh")
    assert headers["Authorization"] == AUTH
    assert headers["Signature"] == "6134f53c44fd251f727d782d61d1f9fe8bc5f69f5da4807d4435bbc62f24e67e"
    assert headers["OpenMesh-API-Version"] == "1"
    assert headers["Content-Type"] == "application/json"
