"""The `source: cloudtrax` entry through the real config loader, with its exact error lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import Config, parse_config
from exporter.sources.cloudtrax import CloudTraxSource
from exporter.sources.cloudtrax.config import CloudTraxEntry

SOURCES = {"cloudtrax": CloudTraxSource}
HEAD = "targets:\n  - source: cloudtrax\n    name: acct\n"


def load(body: str) -> Config:
    return parse_config(HEAD + body, SOURCES)  # type: ignore[dict-item]


def errors(body: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(body)
    return info.value.messages


def test_defaults() -> None:
    entry = load("    key: k\n    secret: s\n    networks: [12345, 67890]\n").entries[0]
    assert isinstance(entry, CloudTraxEntry)
    assert entry.base_url == "https://api-v3.cloudtrax.com"
    assert entry.networks == (12345, 67890)
    assert (entry.usage_interval, entry.usage_period) == (900.0, "2hours")
    assert (entry.settings_interval, entry.discovery_interval) == (3600.0, 600.0)
    assert entry.credential().reveal() == "s"


def test_all_and_overrides(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n", encoding="utf-8")
    entry = load(
        f"    key: k\n    secret_file: {secret_file}\n    networks: all\n    base_url: http://127.0.0.1:8080/\n"
        "    usage_interval: 1h\n    usage_period: day\n    settings_interval: 30m\n    discovery_interval: 5m\n"
        "    interval: 2m\n"
    ).entries[0]
    assert isinstance(entry, CloudTraxEntry)
    assert entry.networks == "all"
    assert entry.base_url == "http://127.0.0.1:8080"
    assert entry.credential().reveal() == "from-file"
    assert (entry.usage_interval, entry.usage_period, entry.settings_interval) == (3600.0, "day", 1800.0)


def test_secrets_are_redacted_in_the_shown_config() -> None:
    config = load("    key: the-key\n    secret: the-secret\n    networks: [1]\n")
    shown = str(config.redacted())
    assert "the-key" not in shown and "the-secret" not in shown
    assert config.redacted()["targets"][0]["networks"] == [1]


def test_secret_missing() -> None:
    assert errors("    key: k\n    networks: [1]\n") == ["targets[0]: one of secret or secret_file is required"]


def test_secret_twice(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("x", encoding="utf-8")
    assert errors(f"    key: k\n    secret: s\n    secret_file: {secret_file}\n    networks: [1]\n") == [
        "targets[0]: set either secret or secret_file, not both"
    ]


def test_unreadable_secret_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert errors(f"    key: k\n    secret_file: {missing}\n    networks: [1]\n") == [
        f'targets[0].secret_file: cannot read "{missing}": No such file or directory'
    ]


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        ("some", 'expected a list of network ids or "all", got "some"'),
        ("12345", 'expected a list of network ids or "all", got 12345'),
        ("[]", 'must list at least one network id, or be "all"'),
        ("[1, -2]", "item 1: expected a positive network id, got -2"),
        ("[1, true]", "item 1: expected a positive network id, got true"),
        ("[7, 7]", "item 1: network 7 is listed twice"),
    ],
)
def test_bad_networks(networks: str, message: str) -> None:
    assert errors(f"    key: k\n    secret: s\n    networks: {networks}\n") == [f"targets[0].networks: {message}"]


def test_several_bad_keys_reported_together() -> None:
    assert errors(
        "    secret: s\n    networks: all\n    base_url: ftp://example\n    usage_period: year\n"
        "    usage_interval: 5x\n    settings_interval: 0s\n    colour: red\n"
    ) == [
        "targets[0].key: required key missing",
        'targets[0].base_url: expected an http(s) URL, got "ftp://example"',
        'targets[0].usage_interval: expected a duration like 30s, got "5x"',
        "targets[0].usage_period: expected '2hours', 'day', 'week' or 'month', got \"year\"",
        "targets[0].settings_interval: must be greater than 0s",
        "targets[0].colour: unknown key",
    ]


def test_usage_interval_longer_than_the_period_window() -> None:
    assert errors("    key: k\n    secret: s\n    networks: all\n    usage_interval: 3h\n") == [
        "targets[0]: usage_interval 3h is longer than the 2hours usage_period it reads, "
        "so usage samples would be missed"
    ]


def test_networks_required() -> None:
    assert errors("    key: k\n    secret: s\n") == ["targets[0].networks: required key missing"]


def test_ca_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    assert errors(f"    key: k\n    secret: s\n    networks: [1]\n    ca_file: {missing}\n") == [
        f'targets[0].ca_file: cannot read "{missing}": no such file'
    ]


def test_env_expansion_for_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_SECRET", "env-secret")
    entry = load("    key: k\n    secret: ${CT_SECRET}\n    networks: [1]\n").entries[0]
    assert isinstance(entry, CloudTraxEntry)
    assert entry.credential().reveal() == "env-secret"


def test_base_entry_checks_still_apply() -> None:
    assert errors("    key: k\n    secret: s\n    networks: [1]\n    interval: 1m\n    timeout: 2m\n") == [
        "targets[0].timeout: must not exceed interval (1m), got 2m"
    ]
    assert errors("    key: k\n    secret: s\n    networks: [1]\n    interval: 0s\n") == [
        "targets[0].interval: must be greater than 0s"
    ]


def test_no_silent_coercion_of_flags() -> None:
    assert errors("    key: k\n    secret: s\n    networks: [1]\n    insecure_skip_verify: 'yes'\n") == [
        'targets[0].insecure_skip_verify: expected true or false, got "yes"'
    ]
    assert errors("    key: 12345\n    secret: s\n    networks: [1]\n") == [
        "targets[0].key: expected a string (quote secrets that look like numbers)"
    ]


def test_base_url_with_credentials_is_refused() -> None:
    from exporter.config.errors import ConfigError
    from exporter.config.loader import parse_config
    from exporter.sources.registry import load_sources

    text = (
        "targets: [{source: cloudtrax, name: a, key: k, secret: s, networks: [1],"
        " base_url: 'https://user:pw@api.example.test'}]\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, load_sources())
    assert info.value.messages == ["targets[0].base_url: must not contain credentials; use key and secret"]
    assert "pw@" not in str(info.value)
