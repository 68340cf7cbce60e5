"""`powerstrip-exporter healthcheck` against the real exporter: TLS, basic auth, a non-default address,
and flags read from the running process as the container HEALTHCHECK does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest
import trustme

from tests.core.fake_exporter import ENV
from tests.core.https import PASSWORD, client_context, reachable, write_cert
from tests.support.process import ExporterProcess, free_port

NO_TARGETS = "targets: []\n"


def healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )


def tls_web_config(tmp_path: Path, client_auth: str = "NoClientCert") -> tuple[Path, trustme.CA]:
    ca = trustme.CA()
    cert, key = write_cert(ca, tmp_path, "server")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"  client_auth_type: {client_auth}\n  client_ca_file: {ca_file}\n"
        f"basic_auth_users:\n  prom: '{hashed}'\n"
    )
    return web, ca


class WildcardExporter(ExporterProcess):
    """Listens on `:PORT` (every interface), as the container does, instead of 127.0.0.1."""

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--web.listen-address") + 1] = f":{self.port}"
        return cmd


@pytest.mark.parametrize("client_auth", ["NoClientCert", "RequireAndVerifyClientCert"])
async def test_healthcheck_follows_tls_and_a_non_default_address(tmp_path: Path, client_auth: str) -> None:
    web, ca = tls_web_config(tmp_path, client_auth)
    exp = WildcardExporter(tmp_path, NO_TARGETS, args=["--web.config.file", str(web)], wait_healthy=False)
    exp.url = f"https://127.0.0.1:{exp.port}"
    ctx = client_context(ca)
    if client_auth != "NoClientCert":
        ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    async with exp:
        await exp.wait_for(lambda: reachable(exp.url + "/-/healthy", ctx), what="TLS listener")
        by_flags = healthcheck(f"--web.listen-address=:{exp.port}", f"--web.config.file={web}")
        assert exp.proc is not None
        by_pid = healthcheck(f"--args-from-pid={exp.proc.pid}")
        plain_http = healthcheck(f"--web.listen-address=:{exp.port}")
    for result in (by_flags, by_pid):
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"healthy: https://127.0.0.1:{exp.port}/-/healthy\n"
    assert plain_http.returncode == 1, "plain HTTP to a TLS listener is not healthy"
    assert plain_http.stderr.startswith(f"unhealthy: http://127.0.0.1:{exp.port}/-/healthy: ")
    assert plain_http.stderr.count("\n") == 1


async def test_healthcheck_by_pid_of_a_plain_exporter(tmp_path: Path) -> None:
    async with ExporterProcess(tmp_path, NO_TARGETS) as exp:
        assert exp.proc is not None
        result = healthcheck(f"--args-from-pid={exp.proc.pid}")
        # As under `docker run --init`: the given PID (here this test) is the exporter's parent.
        via_parent = healthcheck(f"--args-from-pid={os.getpid()}")
    for got in (result, via_parent):
        assert got.returncode == 0, got.stderr
        assert got.stdout == f"healthy: http://127.0.0.1:{exp.port}/-/healthy\n"


def test_healthcheck_reports_nothing_listening_in_one_line() -> None:
    port = free_port()
    result = healthcheck(f"--web.listen-address=127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr == f"unhealthy: http://127.0.0.1:{port}/-/healthy: Connection refused\n"


def test_healthcheck_of_a_process_that_is_not_the_exporter() -> None:
    result = healthcheck(f"--args-from-pid={os.getpid()}")
    assert result.returncode == 1
    assert result.stderr == f"unhealthy: process {os.getpid()} is not powerstrip-exporter, nor is any of its children\n"


async def test_relative_web_config_is_read_from_the_exporters_directory(tmp_path: Path) -> None:
    web, _ = tls_web_config(tmp_path)
    (tmp_path / "config.yml").write_text(NO_TARGETS)
    port = free_port()
    log = (tmp_path / "exporter.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", "config.yml", "--web.config.file", web.name,
         "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            result = healthcheck(f"--args-from-pid={proc.pid}")
            if result.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            await asyncio.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    assert result.returncode == 0, result.stderr + (tmp_path / "exporter.log").read_text()
    assert result.stdout == f"healthy: https://127.0.0.1:{port}/-/healthy\n"
