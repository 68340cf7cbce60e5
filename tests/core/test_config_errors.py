"""Every bad config gives exact messages that name the YAML path, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import load_config, parse_config
from tests.core.fake_source import FakeSource

SOURCES = {"fake": FakeSource}

CASES = {
    "unknown top-level key": ("foo: 1\n", ["foo: unknown key"]),
    "unknown key in global": (
        "global: {intervall: 5s}\n",
        ['global.intervall: unknown key; did you mean "interval"?'],
    ),
    "unknown key in an entry": (
        "targets: [{source: fake, name: a, pasword: x}]\n",
        ["targets[0].pasword: unknown key"],
    ),
    "bad duration": (
        "targets:\n- {source: fake, name: a}\n- {source: fake, name: b}\n- {source: fake, name: c, interval: soon}\n",
        ['targets[2].interval: expected a duration like 30s, got "soon"'],
    ),
    "duration without unit": ("global: {timeout: 5}\n", ["global.timeout: expected a duration like 30s, got 5"]),
    "zero duration": ("global: {interval: 0s}\n", ["global.interval: must be greater than 0s"]),
    "timeout above interval": (
        "global: {interval: 5s, timeout: 10s}\n",
        ["global.timeout: must not exceed interval (5s), got 10s"],
    ),
    "wrong type": (
        "targets: [{source: fake, name: a, devices: many}]\n",
        ['targets[0].devices: expected an integer, got "many"'],
    ),
    "bool is not an int": (
        "targets: [{source: fake, name: a, devices: true}]\n",
        ["targets[0].devices: expected an integer, got true"],
    ),
    "out of range": ("targets: [{source: fake, name: a, devices: -1}]\n", ["targets[0].devices: must be >= 0, got -1"]),
    "ratio out of range": ("global: {jitter: 0.9}\n", ["global.jitter: must be <= 0.5, got 0.9"]),
    "unknown source": (
        "targets: [{source: snmp, name: a}]\n",
        ['targets[0].source: unknown source "snmp" (known: fake)'],
    ),
    "missing source": ("targets: [{name: a}]\n", ["targets[0].source: required key missing"]),
    "missing name": ("targets: [{source: fake}]\n", ["targets[0].name: required key missing"]),
    "bad name": (
        "targets: [{source: fake, name: 'a b'}]\n",
        ['targets[0].name: must match ^[A-Za-z0-9_.:-]+$, got "a b"'],
    ),
    "duplicate target names": (
        "targets: [{source: fake, name: a}, {source: fake, name: b}, {source: fake, name: a}]\n",
        ['targets[2].name: duplicate target name "a" (first used at targets[0])'],
    ),
    "missing secret env var": (
        "targets: [{source: fake, name: a, token: '${POWERSTRIP_TEST_UNSET_TOKEN}'}]\n",
        ["targets[0].token: environment variable POWERSTRIP_TEST_UNSET_TOKEN is not set"],
    ),
    "unreadable secret file": (
        "targets: [{source: fake, name: a, token_file: /nonexistent/token}]\n",
        ['targets[0].token_file: cannot read "/nonexistent/token": No such file or directory'],
    ),
    "numeric secret is not echoed": (
        "targets: [{source: fake, name: a, token: 80417293}]\n",
        ["targets[0].token: expected a string (quote secrets that look like numbers)"],
    ),
    "shell-style default is not expanded": (
        "targets: [{source: fake, name: a, token: '${TOKEN:-x}'}]\n",
        ["targets[0].token: invalid reference '${TOKEN:-x}'; write ${NAME}, or $$ for a literal $"],
    ),
    "secret twice": (
        "targets: [{source: fake, name: a, token: x, token_file: /nonexistent/token}]\n",
        [
            'targets[0].token_file: cannot read "/nonexistent/token": No such file or directory',
        ],
    ),
    "enum value": (
        "targets: [{source: fake, name: a, mode: crash}]\n",
        ["targets[0].mode: expected 'ok', 'hang' or 'error', got \"crash\""],
    ),
    "targets not a list": ("targets: {a: 1}\n", ["targets: expected a list, got a mapping"]),
    "entry not a mapping": ("targets: [hello]\n", ['targets[0]: expected a mapping, got "hello"']),
    "top level not a mapping": ("- a\n- b\n", ["(top level): expected a mapping, got a list"]),
    "yaml syntax": (
        "global: {interval: 5s\n",
        ["<config>:2:1: YAML syntax error: the '{' opened at line 1 is not closed with '}'"],
    ),
    "unknown source settings": (
        "sources: {snmp: {max_concurrent_requests: 2}}\n",
        ["sources.snmp: unknown source (known: fake)"],
    ),
    "source settings range": (
        "sources: {fake: {max_concurrent_requests: 0}}\n",
        ["sources.fake.max_concurrent_requests: must be >= 1, got 0"],
    ),
    "several errors at once": (
        "global: {interval: soon}\ntargets: [{source: fake, name: a, devices: x, bogus: 1}]\n",
        [
            'global.interval: expected a duration like 30s, got "soon"',
            'targets[0].devices: expected an integer, got "x"',
            "targets[0].bogus: unknown key",
        ],
    ),
}


@pytest.mark.parametrize("text,expected", CASES.values(), ids=list(CASES))
def test_bad_config_messages(text: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERSTRIP_TEST_UNSET_TOKEN", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCES)
    assert info.value.messages == expected


def test_secret_both_inline_and_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with pytest.raises(ConfigError) as info:
        parse_config(f"targets: [{{source: fake, name: a, token: x, token_file: {token}}}]\n", SOURCES)
    assert info.value.messages == ["targets[0]: set either token or token_file, not both"]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yml", SOURCES)
    assert info.value.messages == [f"cannot read config file {tmp_path / 'nope.yml'}: No such file or directory"]


def test_good_config_expands_env_and_reads_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERSTRIP_TEST_TOKEN", "from-env")
    (tmp_path / "token").write_text("from-file\n")
    config = parse_config(
        "global: {interval: 1m30s, timeout: 250ms}\n"
        "targets:\n"
        "- {source: fake, name: a, token: '${POWERSTRIP_TEST_TOKEN}'}\n"
        f"- {{source: fake, name: b, token_file: {tmp_path / 'token'}, interval: 2h}}\n"
        "- {source: fake, name: c, token: 'cost $$5'}\n",
        SOURCES,
    )
    a, b, c = config.entries
    assert config.global_.interval == 90.0 and config.global_.timeout == 0.25
    assert a.token.reveal() == "from-env"  # type: ignore[attr-defined]
    assert b.token_file.reveal() == "from-file"  # type: ignore[attr-defined]
    assert c.token.reveal() == "cost $5"  # type: ignore[attr-defined]
    assert b.interval == 7200.0
    rendered = repr(config.redacted())
    assert "from-env" not in rendered and "from-file" not in rendered and "cost" not in rendered
    assert config.redacted()["targets"][0]["token"] == "<secret>"
    assert config.redacted()["global"]["interval"] == "1m30s"


ACTION_CASES = {
    "zero window": (
        "actions: {auth_failures: {window: 0s}}\n",
        ["actions.auth_failures.window: must be greater than 0s"],
    ),
    "zero cooldown": ("actions: {cooldown: 0s}\n", ["actions.cooldown: must be greater than 0s"]),
    "bad proxy network": (
        "actions: {trusted_proxies: [10.0.0.0/8, not-a-cidr]}\n",
        ["actions.trusted_proxies[1]: value is not a valid IPv4 or IPv6 network"],
    ),
    "short token": (
        "actions: {tokens: [{name: t, token: short, allow: [{actions: ['*'], targets: ['*']}]}]}\n",
        ["actions.tokens[0]: token: a token must have at least 16 characters"],
    ),
    "same token twice": (
        "actions: {tokens: ["
        "{name: a, token: same-token-0123456789, allow: [{actions: ['*'], targets: ['*']}]},"
        "{name: b, token: same-token-0123456789, allow: [{actions: ['*'], targets: ['*']}]}]}\n",
        ["actions: tokens 'a' and 'b' are the same token"],
    ),
    "bad action name": (
        "actions: {tokens: [{name: a, token: long-enough-token-1, allow: [{actions: [reboot], targets: ['*']}]}]}\n",
        ['actions.tokens[0].allow[0].actions: expected "source.action" or "*", got "reboot"'],
    ),
}


@pytest.mark.parametrize("text,expected", ACTION_CASES.values(), ids=list(ACTION_CASES))
def test_bad_actions_config(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCES)
    assert info.value.messages == expected


def test_a_secret_set_to_an_empty_value_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unfilled secret.env (VAR=) must fail `--config.check`, not deploy and then fail every poll."""
    monkeypatch.setenv("POWERSTRIP_TEST_EMPTY_TOKEN", "")
    path = tmp_path / "config.yml"
    path.write_text("targets: [{source: fake, name: a, token: '${POWERSTRIP_TEST_EMPTY_TOKEN}'}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, SOURCES)
    assert info.value.messages == [
        "targets[0].token: empty secret (is the environment variable it names set to an empty value?)"
    ]
