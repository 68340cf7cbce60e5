"""File paths in the config are relative to the config file's directory, as in Prometheus, not to the
working directory (/ under systemd). The process test is `test_config_paths_process.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import load_config
from exporter.sources.cloudtrax import CloudTraxSource
from exporter.sources.cloudtrax.config import CloudTraxEntry
from exporter.sources.dli import DliSource
from exporter.sources.dli.config import DliEntry

SOURCES = {"cloudtrax": CloudTraxSource, "dli": DliSource}


def config_text(dli_files: str, secret_file: str = "ct.secret") -> str:
    return (
        "targets:\n"
        f"- {{source: cloudtrax, name: acct, key: k, secret_file: {secret_file}, networks: [1]}}\n"
        f"- {{source: dli, name: pdu, url: 'https://10.0.0.5', username: admin, {dli_files}}}\n"
        "actions:\n"
        "  tokens:\n"
        "  - {name: oncall, token_file: tokens/oncall, allow: [{actions: ['*'], targets: ['*']}]}\n"
    )


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config directory holding the files; the working directory is another, empty one."""
    directory = tmp_path / "etc"
    (directory / "tokens").mkdir(parents=True)
    (directory / "ct.secret").write_text("ct-secret-from-file\n")
    (directory / "pdu.pw").write_text("pdu-password-from-file\n")
    (directory / "tokens" / "oncall").write_text("oncall-token-from-file\n")
    (directory / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return directory


def test_relative_paths_are_read_from_the_config_files_directory(config_dir: Path) -> None:
    path = config_dir / "config.yml"
    path.write_text(config_text("password_file: pdu.pw, ca_file: ca.pem"))
    config = load_config(path, SOURCES)
    ct, dli = config.entries
    assert isinstance(ct, CloudTraxEntry) and isinstance(dli, DliEntry)
    assert ct.credential().reveal() == "ct-secret-from-file"
    assert dli.credential().reveal() == "pdu-password-from-file"
    assert dli.ca_file == str(config_dir / "ca.pem")  # what the client opens later, wherever it runs
    (token,) = config.actions.tokens
    assert token.token_file is not None and token.token_file.reveal() == "oncall-token-from-file"


def test_a_relative_config_file_path_is_a_relative_base(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (config_dir / "config.yml").write_text(config_text("password_file: pdu.pw, ca_file: ca.pem"))
    monkeypatch.chdir(config_dir.parent)
    dli = load_config(Path("etc/config.yml"), SOURCES).entries[1]
    assert isinstance(dli, DliEntry) and dli.ca_file == "etc/ca.pem"


def test_absolute_paths_are_kept(config_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "pw").write_text("absolute-password\n")
    (elsewhere / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = config_dir / "config.yml"
    path.write_text(config_text(f"password_file: {elsewhere / 'pw'}, ca_file: {elsewhere / 'ca.pem'}"))
    dli = load_config(path, SOURCES).entries[1]
    assert isinstance(dli, DliEntry)
    assert (dli.credential().reveal(), dli.ca_file) == ("absolute-password", str(elsewhere / "ca.pem"))


def test_errors_name_the_path_as_written_and_where_it_was_looked_for(config_dir: Path) -> None:
    path = config_dir / "config.yml"
    path.write_text(config_text("password_file: missing.pw, ca_file: tls/ca.pem", secret_file="../gone"))
    (config_dir / "tokens" / "oncall").write_text("\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, SOURCES)
    assert info.value.messages == [
        f'targets[0].secret_file: cannot read "../gone" ({config_dir / "../gone"}): No such file or directory',
        f'targets[1].password_file: cannot read "missing.pw" ({config_dir / "missing.pw"}): No such file or directory',
        f'targets[1].ca_file: cannot read "tls/ca.pem" ({config_dir / "tls/ca.pem"}): no such file',
        f'actions.tokens[0].token_file: "tokens/oncall" ({config_dir / "tokens/oncall"}) is empty',
    ]
