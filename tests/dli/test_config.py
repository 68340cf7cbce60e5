"""The `dli` config entry through the real `parse_config`, including exact error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import parse_config
from exporter.sources.dli import DliSource
from exporter.sources.dli.config import DliEntry
from exporter.sources.registry import load_sources

SOURCES = {"dli": DliSource}


def entry_yaml(extra: str = "  password: pw\n", url: str = "https://10.0.0.5") -> str:
    return f"targets:\n- source: dli\n  name: rack1-pdu\n  url: {url}\n  username: admin\n{extra}"


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCES)
    return info.value.messages


def test_registry_finds_dli() -> None:
    assert load_sources()["dli"] is DliSource


def test_minimal_entry_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLI_PW", "from-env")
    cfg = parse_config(entry_yaml("  password: ${DLI_PW}\n", url="https://10.0.0.5/"), SOURCES)
    (entry,) = cfg.entries
    assert isinstance(entry, DliEntry)
    assert (entry.name, entry.url, entry.username, entry.auth) == ("rack1-pdu", "https://10.0.0.5", "admin", "digest")
    assert (entry.identity_interval, entry.insecure_skip_verify, entry.ca_file) == (3600.0, False, None)
    assert entry.credential().reveal() == "from-env"
    assert "from-env" not in repr(entry) and "from-env" not in str(cfg.redacted())
    assert cfg.redacted()["targets"][0]["password"] == "<secret>"


def test_password_file_and_tls_options(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("file-secret\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = entry_yaml(
        f"  password_file: {pw}\n  ca_file: {ca}\n  auth: basic\n  identity_interval: 10m\n"
        "  interval: 15s\n  timeout: 5s\n  quantity_aliases: {kwh: energy}\n  humidity_unit: ratio\n"
    )
    (entry,) = parse_config(text, SOURCES).entries
    assert isinstance(entry, DliEntry)
    assert entry.credential().reveal() == "file-secret"
    assert (entry.auth, entry.identity_interval, entry.interval, entry.timeout) == ("basic", 600.0, 15.0, 5.0)
    assert entry.aliases()["kwh"] == "energy" and entry.aliases()["voltage"] == "voltage"


PW = "  password: a\n"
BAD: list[tuple[str, str, str]] = [
    # (extra keys, url, the one expected message)
    (
        PW + "  password_file: /etc/hostname\n",
        "https://h",
        "targets[0]: set either password or password_file, not both",
    ),
    ("", "https://h", "targets[0]: one of password or password_file is required"),
    (PW, "ftp://h", 'targets[0].url: expected an http(s) URL, got "ftp://h"'),
    (PW, "https://admin:1234@h", "targets[0].url: must not contain credentials; use username and password"),
    (PW, "http://h/?a=1", "targets[0].url: must not have a query or fragment"),
    (PW + "  auth: ntlm\n", "https://h", "targets[0].auth: expected 'digest' or 'basic', got \"ntlm\""),
    (PW + "  passwd: b\n", "https://h", "targets[0].passwd: unknown key"),
    (
        PW + "  ca_file: /etc/hostname\n  insecure_skip_verify: true\n",
        "https://h",
        "targets[0]: set either ca_file or insecure_skip_verify, not both",
    ),
    (
        PW + "  insecure_skip_verify: true\n",
        "http://h",
        "targets[0]: ca_file and insecure_skip_verify need an https:// url",
    ),
    (
        PW + "  ca_file: /nonexistent/ca.pem\n",
        "https://h",
        'targets[0].ca_file: cannot read "/nonexistent/ca.pem": no such file',
    ),
    (PW + "  identity_interval: 0s\n", "https://h", "targets[0].identity_interval: must be greater than 0s"),
    # the base entry's own checks still apply to a DLI entry
    (PW + "  interval: 0s\n", "https://h", "targets[0].interval: must be greater than 0s"),
    (PW + "  interval: 5s\n  timeout: 6s\n", "https://h", "targets[0].timeout: must not exceed interval (5s), got 6s"),
    (
        PW + "  insecure_skip_verify: maybe\n",
        "https://h",
        'targets[0].insecure_skip_verify: expected true or false, got "maybe"',
    ),
]


@pytest.mark.parametrize(("extra", "url", "message"), BAD, ids=[m.split(": ", 1)[1][:40] for _, _, m in BAD])
def test_bad_entries(extra: str, url: str, message: str) -> None:
    assert errors(entry_yaml(extra, url=url)) == [message]


def test_colon_in_username() -> None:
    text = entry_yaml().replace("username: admin", "username: ad:min")
    assert errors(text) == ['targets[0].username: must match ^[^:]+$, got "ad:min"']


def test_missing_url_and_username() -> None:
    assert errors("targets:\n- source: dli\n  name: x\n  password: a\n") == [
        "targets[0].url: required key missing",
        "targets[0].username: required key missing",
    ]
