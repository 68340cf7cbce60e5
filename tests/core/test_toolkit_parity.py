"""exporter-toolkit parity through the real process: several listen addresses, the telemetry path,
web config headers and TLS tuning, and `--version` / build info."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import trustme

from exporter.web.security import WebSecurity
from tests.core.fake_exporter import ENV, GOOD, ROOT, FakeExporter, exited, run_cli
from tests.core.https import (
    PASSWORD,
    basic,
    client_certificates_required,
    client_context,
    reachable,
    web_config,
    write_cert,
)
from tests.support.process import value


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _free_port_v6() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


async def _get(url: str, **kw: object) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url, **kw) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.text(), dict(resp.headers)


@pytest.mark.process
@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_every_listen_address_is_bound_and_logged(tmp_path: Path) -> None:
    second = _free_port_v6()
    args = ["--web.listen-address", f"[::1]:{second}", "--web.telemetry-path", "/prom"]
    async with FakeExporter(tmp_path, GOOD, env=ENV, args=args) as exp:
        for base in (exp.url, f"http://[::1]:{second}"):
            status, text, _ = await _get(base + "/prom")
            assert status == 200 and "powerstrip_exporter_build_info" in text, base
            assert (await _get(base + "/metrics"))[0] == 404, "metrics move to the telemetry path"
            status, page, _ = await _get(base + "/")
            assert status == 200 and '<a href="/prom">Metrics</a>' in page
        logs = exp.logs()
    assert f"url=http://127.0.0.1:{exp.port}/" in logs
    assert f"url=http://[::1]:{second}/" in logs, "IPv6 hosts are bracketed in logged URLs"


@pytest.mark.process
async def test_a_busy_second_address_fails_the_start_naming_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        exp = FakeExporter(
            tmp_path, GOOD, env=ENV, args=["--web.listen-address", f"127.0.0.1:{taken}"], wait_healthy=False
        )
        async with exp:
            await exp.wait_for(lambda: exited(exp), what="exit")
    assert exp.proc is not None and exp.proc.returncode == 1
    logs = exp.logs()
    assert f"cannot listen on 127.0.0.1:{taken}: Address already in use" in logs
    assert "Traceback" not in logs


@pytest.mark.process
@pytest.mark.parametrize("path", ["metrics", "/", "/-/healthy", "/api/v1/metrics"])
def test_telemetry_path_must_not_shadow_another_page(tmp_path: Path, path: str) -> None:
    (tmp_path / "c.yml").write_text(GOOD)
    result = run_cli("--config.file", str(tmp_path / "c.yml"), "--web.telemetry-path", path)
    assert result.returncode == 2 and "invalid --web.telemetry-path" in result.stderr
    assert "Traceback" not in result.stderr


LOGIN = basic("prom", PASSWORD)


def tls12_cipher(port: int, ca: trustme.CA) -> str:
    """The suite the server chooses for a TLS 1.2 client offering every suite it has."""
    ctx = client_context(ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cipher = tls.cipher()
    assert cipher is not None
    return cipher[0]


HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "deny",
    "Content-Security-Policy": "default-src 'none'",
}


@pytest.mark.process
async def test_web_config_headers_and_tls_tuning(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    headers = "".join(f'    {k}: "{v}"\n' for k, v in HEADERS.items())
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n"
        "  curve_preferences: [CurveP384]\n"
        "  prefer_server_cipher_suites: true\n"
        f"http_server_config:\n  headers:\n{headers}"
        f"basic_auth_users:\n  prom: '{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}'\n"
    )
    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    exp.url = f"https://127.0.0.1:{exp.port}"
    ctx = client_context(ca)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", ctx), what="TLS listener")
        for path, status, auth in (("/-/healthy", 200, {}), ("/metrics", 401, {}), ("/nowhere", 404, LOGIN)):
            got, _, response_headers = await _get(exp.url + path, ssl=ctx, headers=auth)
            assert got == status, path
            assert {k: response_headers.get(k) for k in HEADERS} == HEADERS, path
        # TLS 1.2 with the client offering every suite: the server's configured one is chosen.
        cipher = tls12_cipher(exp.port, ca)
        assert cipher.endswith("AES256-GCM-SHA384"), cipher
        # A client that only offers another curve cannot agree on a key exchange.
        other_curve = client_context(ca)
        other_curve.set_ecdh_curve("prime256v1")
        with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", exp.port), timeout=10) as raw:
            other_curve.wrap_socket(raw, server_hostname="127.0.0.1").close()


TOOLKIT_ONLY = (
    "  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA]\n"
    "  curve_preferences: [X25519, CurveP256]\n"
    "http_server_config:\n  http2: true\n"
)
"""What exporter-toolkit accepts and Python's ssl cannot do (all of): a TLS 1.3 suite, a suite this
OpenSSL lacks, two curves, HTTP/2."""
IGNORED = (
    ("tls_server_config.cipher_suites", "TLS_AES_128_GCM_SHA256 ignored"),
    ("tls_server_config.cipher_suites", "TLS_RSA_WITH_RC4_128_SHA ignored"),
    ("tls_server_config.curve_preferences", "CurveP256 ignored"),
    ("http_server_config.http2", "ignored: the server speaks HTTP/1.1 only"),
)


def _connects(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
    except ssl.SSLError:
        return False
    return True


@pytest.mark.process
async def test_a_toolkit_config_python_cannot_fully_apply_is_served_and_the_rest_logged_once(
    tmp_path: Path,
) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n" + TOOLKIT_ONLY)
    exp = FakeExporter(tmp_path, GOOD, env=ENV, args=["--web.config.file", str(web)], wait_healthy=False)
    exp.url = f"https://127.0.0.1:{exp.port}"
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client_context(ca)), what="TLS listener")
        assert tls12_cipher(exp.port, ca) == "ECDHE-ECDSA-AES128-GCM-SHA256", "the available suite applies"
        p256_only = client_context(ca)
        p256_only.set_ecdh_curve("prime256v1")
        # With a groups list (newer Pythons) both curves serve; with one curve only the first, never one not listed.
        assert _connects(exp.port, p256_only) is hasattr(ssl.SSLContext, "set_groups")
        exp.signal(signal.SIGHUP)

        async def reloaded() -> bool:
            return 'msg="config reloaded"' in exp.logs()

        await exp.wait_for(reloaded, what="the reload")
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client_context(ca)), what="after reload")
        logs = exp.logs()
    ignored = [line for line in logs.splitlines() if 'msg="web config setting ignored"' in line]
    for key_name, detail in IGNORED:
        lines = [line for line in ignored if f"key={key_name} " in line and detail in line]
        assert len(lines) == 1, f"{key_name}: {detail} logged {len(lines)} times"
    assert len(ignored) == len(IGNORED), "each once, not again on the reload"
    assert "Traceback" not in logs


@pytest.mark.process
def test_config_check_accepts_a_toolkit_config_and_warns_what_is_ignored(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n" + TOOLKIT_ONLY)
    (tmp_path / "c.yml").write_text(GOOD)
    result = run_cli("--config.file", str(tmp_path / "c.yml"), "--config.check", "--web.config.file", str(web))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f"{web}: OK\n")
    for key_name, detail in IGNORED:
        assert f"{web}: warning: {key_name}: " in result.stderr and detail in result.stderr


@pytest.mark.process
async def test_web_config_refuses_what_the_toolkit_refuses_naming_key_and_reason(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        "  cipher_suites: [TLS_MADE_UP_SUITE]\n"
        "  curve_preferences: [CurveP192]\n"
        "http_server_config:\n  headers: {Server: nginx, X-Frame-Options: allow}\n"
    )
    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    async with exp:
        await exp.wait_for(lambda: exited(exp), what="exit")
    assert exp.proc is not None and exp.proc.returncode == 1
    logs = exp.logs()
    origin = tmp_path / "web.yml"
    assert f"{origin}: tls_server_config.cipher_suites: unknown cipher suite 'TLS_MADE_UP_SUITE'" in logs
    assert f"{origin}: tls_server_config.curve_preferences: unknown curve 'CurveP192'" in logs
    assert f"{origin}: http_server_config.headers: header 'Server' cannot be configured" in logs
    assert "Traceback" not in logs and "unknown key" not in logs


def test_cipher_suites_missing_from_openssl_are_left_out_by_name(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    suites = "[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA]"
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  cipher_suites: {suites}\n"
    )
    web = WebSecurity(tmp_path / "web.yml")
    try:
        web.load(log_notes=False)
        [note] = web.notes
        assert web.ssl_context is not None
        tls12 = {c["name"] for c in web.ssl_context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    finally:
        web.close()
    assert note.startswith("tls_server_config.cipher_suites: TLS_RSA_WITH_RC4_128_SHA ignored: not available")
    assert "AES_128_GCM" not in note
    assert tls12 == {"ECDHE-RSA-AES128-GCM-SHA256"}


@pytest.mark.process
def test_version_flag_is_shaped_like_prometheus() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"powerstrip-exporter, version 0\.1\.0 \(branch: \S+, revision: \S+\)", lines[0]), lines
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "build user",
        "build date",
        "python version",
        "platform",
    ]


@pytest.mark.process
async def test_recorded_build_info_reaches_version_and_metric(tmp_path: Path) -> None:
    """A build writes build_info.json (as the Dockerfile does); `--version` and the metric carry it."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "exporter", tree / "exporter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}  # this copy, not the checkout in the working directory
    write = subprocess.run(
        [sys.executable, "-m", "exporter.buildinfo", "--revision", "abc123", "--branch", "release-1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tree,
        env={**os.environ, **env},
    )
    assert write.returncode == 0, write.stderr
    recorded = json.loads((tree / "exporter" / "build_info.json").read_text())
    assert recorded["revision"] == "abc123" and re.fullmatch(r"\d{8}-\d\d:\d\d:\d\d", recorded["build_date"])
    version = subprocess.run(
        [sys.executable, "-m", "exporter", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tree,
        env={**os.environ, **env},
    )
    assert version.stdout.startswith("powerstrip-exporter, version 0.1.0 (branch: release-1, revision: abc123)\n")
    assert f"  build date:       {recorded['build_date']}\n" in version.stdout
    workdir = tmp_path / "run"
    workdir.mkdir()
    async with FakeExporter(workdir, GOOD, env=env) as exp:
        samples = await exp.metrics()
    labels = {
        "version": "0.1.0",
        "revision": "abc123",
        "branch": "release-1",
        "build_date": recorded["build_date"],
        "python_version": platform.python_version(),
    }
    assert value(samples, "powerstrip_exporter_build_info", **labels) == 1


@pytest.mark.parametrize("prefer", [True, False])
def test_prefer_server_cipher_suites_sets_the_openssl_option(tmp_path: Path, prefer: bool) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"  prefer_server_cipher_suites: {str(prefer).lower()}\n"
    )
    web = WebSecurity(tmp_path / "web.yml")
    try:
        web.load()
        assert web.ssl_context is not None
        assert bool(web.ssl_context.options & ssl.OP_CIPHER_SERVER_PREFERENCE) is prefer
    finally:
        web.close()


@pytest.mark.process
async def test_client_allowed_sans_admit_only_certificates_naming_one(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(
        web_config(cert, key, users=False)
        + client_certificates_required(ca, tmp_path)
        + "  client_allowed_sans: [prometheus.example.test, '::1']\n"
    )

    def client(*names: str) -> ssl.SSLContext:
        ctx = client_context(ca)
        ca.issue_cert(*names).configure_cert(ctx)
        return ctx

    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    exp.url = f"https://127.0.0.1:{exp.port}"
    async with exp:
        allowed = client("prometheus.example.test")
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", allowed), what="mTLS listener")
        assert (await _get(exp.url + "/metrics", ssl=allowed))[0] == 200
        assert (await _get(exp.url + "/metrics", ssl=client("0:0:0:0:0:0:0:1")))[0] == 200, "an IP SAN, any spelling"
        for path in ("/metrics", "/-/healthy"):
            status, text, _ = await _get(exp.url + path, ssl=client("intruder.example.test"))
            assert status == 403 and "no allowed subject alternative name" in text, path


@pytest.mark.process
async def test_relative_paths_are_relative_to_the_web_config_file(tmp_path: Path) -> None:
    """As in exporter-toolkit: `cert_file: server.crt` beside the web config works whatever the
    working directory (under systemd it is /), for the server and for the `healthcheck` command."""
    ca = trustme.CA()
    etc = tmp_path / "etc"
    etc.mkdir()
    write_cert(ca, etc, "server")
    write_cert(ca, etc, "client")
    ca.cert_pem.write_to_path(str(etc / "clients-ca.pem"))
    (etc / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireClientCert\n  client_ca_file: clients-ca.pem\n"
    )
    args = ["--web.config.file", str(etc / "web.yml")]
    exp = FakeExporter(tmp_path, GOOD, env=ENV, args=args, wait_healthy=False)
    exp.url = f"https://127.0.0.1:{exp.port}"
    with_cert = client_context(ca)
    with_cert.load_cert_chain(etc / "client.crt", etc / "client.key")
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", with_cert), what="TLS listener")
        assert not _connects_and_reads(exp.port, client_context(ca)), "RequireClientCert: a certificate is required"
        probe = run_cli("healthcheck", "--web.listen-address", f"127.0.0.1:{exp.port}", *args, cwd=tmp_path)
        assert probe.returncode == 0, probe.stdout + probe.stderr


@pytest.mark.process
async def test_inline_pem_and_rate_limit_as_exporter_toolkit_has_them(tmp_path: Path) -> None:
    """`cert`, `key` and `client_ca` written into the web config, and `rate_limit`: `burst` requests,
    then one per `interval`, 429 beyond. The key never reaches a log."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    key_pem = server.private_key_pem.bytes().decode()
    web = {
        "tls_server_config": {
            "cert": b"".join(blob.bytes() for blob in server.cert_chain_pems).decode(),
            "key": key_pem,
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca": ca.cert_pem.bytes().decode(),
        },
        "rate_limit": {"burst": 5, "interval": "1h"},
    }
    (tmp_path / "web.yml").write_text(json.dumps(web))  # JSON is YAML
    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    exp.url = f"https://127.0.0.1:{exp.port}"
    with_cert = client_context(ca)
    ca.issue_cert("prometheus.example.test").configure_cert(with_cert)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", with_cert), what="TLS listener")
        assert not _connects_and_reads(exp.port, client_context(ca)), "the inline client CA is required"
        statuses = [(await _get(exp.url + "/-/healthy", ssl=with_cert))[0] for _ in range(6)]
        logs = exp.logs()
    assert 429 in statuses and statuses.count(200) < 5, statuses
    assert statuses == sorted(statuses), f"refused once the burst is spent, and from then on: {statuses}"
    assert "PRIVATE KEY" not in logs and key_pem not in logs


def _connects_and_reads(port: int, ctx: ssl.SSLContext) -> bool:
    """Whether a client with `ctx` gets an HTTP answer (TLS 1.3 refuses a missing certificate only
    after the handshake, on the first read)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return tls.recv(64).startswith(b"HTTP/1.1 ")
    except (ssl.SSLError, OSError):
        return False
