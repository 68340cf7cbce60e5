"""HTTPS and basic auth against the fake exporter with `--web.config.file`: a test CA's certificates,
the web config, and a client that trusts them."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import aiohttp
import bcrypt
import trustme

from tests.core.fake_exporter import ENV, GOOD, FakeExporter

PASSWORD = "correct horse battery staple"


def tls_exporter(tmp_path: Path) -> FakeExporter:
    """An exporter using tmp_path/web.yml; the caller waits for the TLS listener itself."""
    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    exp.url = f"https://127.0.0.1:{exp.port}"
    return exp


def write_cert(ca: trustme.CA, tmp_path: Path, stem: str) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / f"{stem}.crt", tmp_path / f"{stem}.key"
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return cert_path, key_path


def web_config(cert: Path, key: Path, users: bool = True) -> str:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    text = f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS12\n"
    if users:
        text += f"basic_auth_users:\n  prom: '{hashed}'\n"
    return text


def client_certificates_required(clients: trustme.CA, tmp_path: Path) -> str:
    """`tls_server_config` lines for mTLS with client certificates issued by `clients`."""
    ca_path = tmp_path / "clients-ca.pem"
    clients.cert_pem.write_to_path(str(ca_path))
    return f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca_path}\n"


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def fetch(url: str, ctx: ssl.SSLContext, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ctx, headers=headers or {}) as resp:
        return resp.status, await resp.text(), resp.headers.get("WWW-Authenticate", "")


async def reachable(url: str, ctx: ssl.SSLContext) -> bool:
    try:
        status, _, _ = await fetch(url, ctx)
    except (aiohttp.ClientError, ssl.SSLError, OSError):
        return False
    return status == 200
