"""Relative file paths of the config file, against the real exporter started in another directory.

Under the shipped systemd unit the working directory is /, so a path relative to it would be a file
nobody meant. As in Prometheus, relative paths are relative to the config file's directory: at start,
at reload and in `--config.check`.
"""

from __future__ import annotations

import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.core.test_config_check_cli import check
from tests.support.process import ExporterProcess, value

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
DLI_PASSWORD = "dli-pass-7q2w"
TOKEN = "relative-token-4k9m2p7x"
NETWORK = 12345
UP = "powerstrip_exporter_target_up"
RELOADED = "powerstrip_exporter_config_last_reload_success_timestamp_seconds"


def config(ct: CloudTraxSimulator, dli: DliSimulator) -> str:
    """Every file key of the config, each relative."""
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "backoff_max": "2s", "jitter": 0.0},
            "targets": [
                {
                    "source": "cloudtrax",
                    "name": "acct",
                    "key": KEY,
                    "secret_file": "secrets/cloudtrax-secret",
                    "base_url": ct.url,
                    "networks": [NETWORK],
                },
                {
                    "source": "dli",
                    "name": "pro",
                    "url": dli.url,
                    "username": DEFAULT_USERNAME,
                    "password_file": "secrets/dli-password",
                    "ca_file": "tls/ca.pem",
                },
            ],
            "actions": {
                "tokens": [
                    {"name": "oncall", "token_file": "secrets/token", "allow": [{"actions": ["*"], "targets": ["*"]}]}
                ]
            },
        }
    )


def write_files(config_dir: Path, ca: trustme.CA) -> None:
    (config_dir / "secrets").mkdir(parents=True)
    (config_dir / "secrets" / "cloudtrax-secret").write_text(SECRET + "\n")
    (config_dir / "secrets" / "dli-password").write_text(DLI_PASSWORD + "\n")
    (config_dir / "secrets" / "token").write_text(TOKEN + "\n")
    (config_dir / "tls").mkdir()
    ca.cert_pem.write_to_path(str(config_dir / "tls" / "ca.pem"))


@dataclass
class Setup:
    config_dir: Path
    elsewhere: Path
    """The working directory, holding none of the files (as / under systemd)."""
    ct: CloudTraxSimulator
    dli: DliSimulator


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
    config_dir, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_files(config_dir, ca)
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=1, networks=1) as ct,
        DliSimulator("pro", password=DLI_PASSWORD, ssl_context=server_ssl) as dli,
    ):
        yield Setup(config_dir, elsewhere, ct, dli)


async def test_relative_files_are_read_next_to_the_config_at_start_and_reload(setup: Setup) -> None:
    text = config(setup.ct, setup.dli)
    async with ExporterProcess(setup.config_dir, text, cwd=setup.elsewhere) as exp:
        await exp.wait_for_sample(UP, 1.0, source="cloudtrax", target=str(NETWORK))
        samples = await exp.wait_for_sample(UP, 1.0, source="dli", target="pro")
        started = value(samples, RELOADED)
        assert started is not None

        async def reloaded() -> bool:
            got = value(await exp.metrics(), RELOADED)
            return got is not None and got > started

        exp.signal(signal.SIGHUP)
        await exp.wait_for(reloaded, what="a successful reload")
        assert value(await exp.metrics(), "powerstrip_exporter_config_last_reload_successful") == 1
        await exp.wait_for_sample(UP, 1.0, source="dli", target="pro")


async def test_config_check_reads_relative_files_next_to_the_config(setup: Setup) -> None:
    config_file = setup.config_dir / "config.yml"
    config_file.write_text(config(setup.ct, setup.dli))
    result = check(config_file, setup.elsewhere)
    assert (result.returncode, result.stderr) == (0, "")

    (setup.config_dir / "secrets" / "dli-password").unlink()
    result = check(config_file, setup.elsewhere)
    assert result.returncode == 1
    looked_at = setup.config_dir / "secrets" / "dli-password"
    assert f'password_file: cannot read "secrets/dli-password" ({looked_at}): No such file' in result.stderr
