"""`ca_file` and `insecure_skip_verify` against the simulator served over TLS (trustme CA)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from exporter.sources.api import PollError
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import KEY, SECRET, by_labels, make_entry, make_group


@pytest.fixture
async def tls_sim(tmp_path: Path) -> AsyncIterator[tuple[CloudTraxSimulator, Path]]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, ssl_context=server) as sim:
        assert sim.url.startswith("https://")
        yield sim, ca_path


async def poll_voltage(**entry: object) -> dict[tuple[str, ...], float]:
    group = make_group(make_entry(**entry))  # type: ignore[arg-type]
    try:
        (target,) = await group.discover()
        return by_labels(await target.poll(), "cloudtrax_powerstrip_voltage_volts")
    finally:
        await group.aclose()


async def test_ca_file_verifies_the_server(tls_sim: tuple[CloudTraxSimulator, Path]) -> None:
    sim, ca_path = tls_sim
    assert await poll_voltage(base_url=sim.url, ca_file=str(ca_path)) == {("12345", "1"): 116.0}  # 2 is down


async def test_unknown_ca_is_a_connection_failure(tls_sim: tuple[CloudTraxSimulator, Path]) -> None:
    sim, _ = tls_sim
    with pytest.raises(PollError) as info:
        await poll_voltage(base_url=sim.url)
    assert info.value.reason == "connection"
    assert "Certificate" in str(info.value) or "certificate" in str(info.value)


async def test_skip_verify(tls_sim: tuple[CloudTraxSimulator, Path]) -> None:
    sim, _ = tls_sim
    assert len(await poll_voltage(base_url=sim.url, insecure_skip_verify=True)) == 1
