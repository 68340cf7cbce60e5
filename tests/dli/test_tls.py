"""Per-device TLS: a private CA via ca_file, or insecure_skip_verify for self-signed units."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from exporter.sources.api import PollError
from tests.dli.conftest import MakeTarget, StartSim


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


async def test_ca_file(
    start_sim: StartSim, make_target: MakeTarget, ca: trustme.CA, server_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    sim = await start_sim("pro", ssl_context=server_ssl)
    assert sim.url.startswith("https://")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    assert len(await make_target(sim, ca_file=str(ca_file)).poll()) > 0


async def test_untrusted_certificate_is_connection(
    start_sim: StartSim, make_target: MakeTarget, server_ssl: ssl.SSLContext
) -> None:
    sim = await start_sim("pro", ssl_context=server_ssl)
    with pytest.raises(PollError) as info:
        await make_target(sim).poll()
    assert info.value.reason == "connection"
    assert sim.stats.total == 0 and sim.stats.challenges == 0


async def test_insecure_skip_verify(start_sim: StartSim, make_target: MakeTarget, server_ssl: ssl.SSLContext) -> None:
    sim = await start_sim("pro", ssl_context=server_ssl)
    assert len(await make_target(sim, insecure_skip_verify=True).poll()) > 0


async def test_unreadable_ca_file_is_connection(
    start_sim: StartSim, make_target: MakeTarget, server_ssl: ssl.SSLContext, tmp_path: Path
) -> None:
    sim = await start_sim("pro", ssl_context=server_ssl)
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(PollError) as info:
        await make_target(sim, ca_file=str(bad)).poll()
    assert (info.value.reason, str(info.value)) == ("connection", "ca_file: cannot load certificates (SSLError)")
