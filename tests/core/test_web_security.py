"""--web.config.file: TLS with a test CA, bcrypt basic auth, open health check, rotation on reload."""

from __future__ import annotations

import asyncio
import signal
import ssl
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import trustme

from tests.core.fake_exporter import ENV, GOOD, FakeExporter, exited, run_cli
from tests.core.https import (
    PASSWORD,
    basic,
    client_certificates_required,
    client_context,
    fetch,
    reachable,
    tls_exporter,
    web_config,
    write_cert,
)

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)


async def test_tls_and_basic_auth(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(web_config(cert, key))
    ctx = client_context(ca)
    exp = tls_exporter(tmp_path)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", ctx), what="TLS listener")
        assert (await fetch(exp.url + "/-/healthy", ctx))[:2] == (200, "Healthy.\n"), "health stays open"
        status, _, challenge = await fetch(exp.url + "/metrics", ctx)
        assert status == 401 and challenge.startswith('Basic realm="powerstrip-exporter"')
        assert (await fetch(exp.url + "/metrics", ctx, basic("prom", "wrong")))[0] == 401
        assert (await fetch(exp.url + "/metrics", ctx, basic("nobody", PASSWORD)))[0] == 401
        status, text, _ = await fetch(exp.url + "/metrics", ctx, basic("prom", PASSWORD))
        assert status == 200 and "powerstrip_exporter_build_info" in text
        for path in ("/", "/config", "/-/ready"):
            assert (await fetch(exp.url + path, ctx))[0] == 401, path
            assert (await fetch(exp.url + path, ctx, basic("prom", PASSWORD)))[0] in (200, 503), path
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(f"http://127.0.0.1:{exp.port}/-/healthy") as resp:
                    plain_status = resp.status
            except aiohttp.ClientError:
                plain_status = None
        assert plain_status != 200, "plain HTTP is not served on a TLS listener"
    assert PASSWORD not in exp.logs()


async def test_certificate_rotates_on_reload(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    cert, key = write_cert(old_ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(web_config(cert, key, users=False))
    exp = tls_exporter(tmp_path)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client_context(old_ca)), what="TLS listener")
        assert not await reachable(exp.url + "/-/healthy", client_context(new_ca))
        new_cert, new_key = write_cert(new_ca, tmp_path, "rotated")
        (tmp_path / "web.yml").write_text(web_config(new_cert, new_key, users=False))
        exp.signal(signal.SIGHUP)
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client_context(new_ca)), what="rotated cert")
        assert not await reachable(exp.url + "/-/healthy", client_context(old_ca))


async def test_bad_web_config_is_reported_at_startup(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prom: plaintext\nbogus: 1\n")
    exp = FakeExporter(
        tmp_path, GOOD, env=ENV, args=["--web.config.file", str(tmp_path / "web.yml")], wait_healthy=False
    )
    async with exp:
        await exp.wait_for(lambda: exited(exp), what="exit")
    assert exp.proc is not None and exp.proc.returncode == 1
    logs = exp.logs()
    assert f"{tmp_path / 'web.yml'}: basic_auth_users: user 'prom': expected a bcrypt hash ($2y$...)" in logs
    assert f"{tmp_path / 'web.yml'}: bogus: unknown key" in logs
    assert "Traceback" not in logs


async def test_mutual_tls_requires_a_client_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(web_config(cert, key, users=False) + client_certificates_required(ca, tmp_path))
    with_cert = client_context(ca)
    ca.issue_cert("prometheus@example.test").configure_cert(with_cert)
    exp = tls_exporter(tmp_path)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", with_cert), what="mTLS listener")
        assert (await fetch(exp.url + "/metrics", with_cert))[0] == 200
        assert not await reachable(exp.url + "/-/healthy", client_context(ca)), "no client certificate, no service"


async def test_reload_replaces_the_client_ca_instead_of_adding_to_it(tmp_path: Path) -> None:
    server_ca, old_clients, new_clients = trustme.CA(), trustme.CA(), trustme.CA()
    cert, key = write_cert(server_ca, tmp_path, "server")

    def config_with(client_ca: trustme.CA) -> str:
        path = tmp_path / "clients.pem"
        client_ca.cert_pem.write_to_path(str(path))
        extra = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {path}\n"
        return web_config(cert, key, users=False) + extra

    def client(issuer: trustme.CA) -> ssl.SSLContext:
        ctx = client_context(server_ca)
        issuer.issue_cert("prometheus@example.test").configure_cert(ctx)
        return ctx

    (tmp_path / "web.yml").write_text(config_with(old_clients))
    exp = tls_exporter(tmp_path)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client(old_clients)), what="mTLS listener")
        (tmp_path / "web.yml").write_text(config_with(new_clients))
        exp.signal(signal.SIGHUP)
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", client(new_clients)), what="new client CA")
        assert not await reachable(exp.url + "/-/healthy", client(old_clients)), "the old client CA is gone"


async def test_long_and_flooded_basic_auth_never_errors(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    (tmp_path / "web.yml").write_text(web_config(cert, key))
    ctx = client_context(ca)
    exp = tls_exporter(tmp_path)
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", ctx), what="TLS listener")
        assert (await fetch(exp.url + "/metrics", ctx, basic("prom", "x" * 100)))[0] == 401
        # 30 at once: within one client's connection share (32), whose further connections are
        # closed before their TLS handshake.
        statuses = await asyncio.gather(
            *(fetch(exp.url + "/metrics", ctx, basic("prom", f"guess{i}")) for i in range(30))
        )
        # Wrong passwords are refused (401); guesses beyond what is checked at once are refused as busy
        # (429 for one client's share, 503 for all), never let in and never an error.
        assert 401 in {s for s, _, _ in statuses} and {s for s, _, _ in statuses} <= {401, 429, 503}
        assert (await fetch(exp.url + "/metrics", ctx, basic("prom", PASSWORD)))[0] == 200
    assert "Traceback" not in exp.logs()


def test_config_check_refuses_a_truncated_bcrypt_hash(tmp_path: Path) -> None:
    """A hash cut short used to pass the check, then refuse every password without a word."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "c.yml").write_text(GOOD)
    web = tmp_path / "web.yml"
    args = ("--config.file", str(tmp_path / "c.yml"), "--config.check", "--web.config.file", str(web))
    web.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    assert run_cli(*args).returncode == 0
    web.write_text(f"basic_auth_users:\n  prom: '{hashed[:40]}'\n")
    result = run_cli(*args)
    assert result.returncode == 1
    assert f"{web}: basic_auth_users: user 'prom': not a whole bcrypt hash" in result.stderr
    assert "got 40); no password would ever match it" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_reload_to_a_truncated_bcrypt_hash_is_refused_and_logged(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    async with FakeExporter(tmp_path, GOOD, env=ENV, args=["--web.config.file", str(web)]) as exp:
        web.write_text(f"basic_auth_users:\n  prom: '{hashed[:40]}'\n")
        exp.signal(signal.SIGHUP)

        async def refused() -> bool:
            return "not a whole bcrypt hash" in exp.logs()

        await exp.wait_for(refused, what="the reload refused")
        assert (await exp.get("/metrics", headers=basic("prom", PASSWORD)))[0] == 200, "the running users stay"
    assert 'msg="reload failed, keeping the running config"' in exp.logs()
