"""`powerstrip-exporter --config.check` as a user meets it: YAML slips, typos and renamed keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.config.errors import ConfigError
from exporter.config.loader import parse_config
from exporter.sources.registry import load_sources
from tests.support.process import ExporterProcess

CLOUDTRAX = """\
targets:
  - source: cloudtrax
    name: main
    key: k
    secret: s
    networks: [1]
    base_url: http://127.0.0.1:9
"""


def check(path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        cwd=cwd,
    )


@pytest.mark.process
def test_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("global:\n  interval: 30s\ntargets:\n  - {source: dli, name: a url: x}\n")
    result = check(path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"{path}:4:30: YAML syntax error: expected ',' or '}}' in the {{...}} mapping opened at line 4; "
        "is a ',' missing?\n"
    )


@pytest.mark.process
def test_tab_indentation_is_named_plainly(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("global:\n\tinterval: 30s\n")
    result = check(path)
    assert result.returncode == 1
    assert result.stderr == f"{path}:2:1: YAML syntax error: a tab character; YAML indents with spaces only\n"


@pytest.mark.process
def test_unknown_keys_suggest_the_closest_known_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "globl: {interval: 30s}\n"
        + CLOUDTRAX
        + "    insecure_skip_verfy: true\n"
        + "  - {source: dli, name: pdu, url: 'https://192.0.2.1', username: u, pasword: p, password: p}\n"
        + "actions: {tokens: [{name: t, token: x, allow: [{actons: ['*'], targets: ['*']}]}]}\n"
    )
    result = check(path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: invalid configuration:"
    assert '  globl: unknown key; did you mean "global"?' in lines
    assert '  targets[0].insecure_skip_verfy: unknown key; did you mean "insecure_skip_verify"?' in lines
    assert '  targets[1].pasword: unknown key; did you mean "password"?' in lines
    assert '  actions.tokens[0].allow[0].actons: unknown key; did you mean "actions"?' in lines


@pytest.mark.process
def test_far_off_keys_get_no_guess(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("zzzzzz: 1\n")
    result = check(path)
    assert result.stderr.splitlines()[1:] == ["  zzzzzz: unknown key"]


@pytest.mark.process
def test_cloudtrax_old_skip_verify_name_still_works_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(CLOUDTRAX + "    tls_insecure_skip_verify: true\n")
    result = check(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"{path}: warning: targets[0].tls_insecure_skip_verify: deprecated, rename it to insecure_skip_verify\n"
    )
    (entry,) = parse_config(path.read_text(), load_sources()).entries
    assert entry.insecure_skip_verify is True  # type: ignore[attr-defined]


@pytest.mark.process
def test_old_and_new_skip_verify_names_together_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(CLOUDTRAX + "    tls_insecure_skip_verify: true\n    insecure_skip_verify: false\n")
    result = check(path)
    assert result.returncode == 1
    assert (
        "  targets[0].tls_insecure_skip_verify: deprecated name of insecure_skip_verify; set only insecure_skip_verify"
        in result.stderr.splitlines()
    )


@pytest.mark.process
async def test_running_exporter_logs_the_deprecated_name(tmp_path: Path) -> None:
    async with ExporterProcess(tmp_path, CLOUDTRAX + "    tls_insecure_skip_verify: true\n") as exp:
        status, shown = await exp.get("/config")
        logs = exp.logs()
    assert status == 200 and "insecure_skip_verify: true" in shown and "tls_insecure_skip_verify" not in shown
    warnings = [line for line in logs.splitlines() if 'msg="config warning"' in line]
    assert len(warnings) == 1 and "level=warn" in warnings[0]
    assert "tls_insecure_skip_verify: deprecated, rename it to insecure_skip_verify" in warnings[0]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"ab7: -\t\n{}[]'\"#&*!|>%@,?\\", "\u2028", "\x85"]), max_size=60))
def test_any_text_is_a_config_or_one_config_error(text: str) -> None:
    try:
        parse_config(text, load_sources(), "c.yml")
    except ConfigError as err:
        assert err.messages and all(line.isprintable() for line in err.messages), "one line each, nothing hidden"
        if err.located:
            assert len(err.messages) == 1 and err.messages[0].startswith("c.yml:")


def test_keys_and_values_in_errors_stay_on_one_line_and_bounded() -> None:
    text = '"a\\nb": 1\nsources: {7: {}, "x\\u2028y": {}}\nglobal: {interval: "' + "9" * 5000 + '"}\n'
    try:
        parse_config(text, load_sources(), "c.yml")
    except ConfigError as err:
        messages = err.messages
    else:
        raise AssertionError("accepted")
    assert '"a\\nb": unknown key' in messages
    assert "sources.7: unknown source (known: cloudtrax, dli)" in messages
    assert 'sources."x\\u2028y": unknown source (known: cloudtrax, dli)' in messages
    assert all(line.isprintable() and len(line) < 300 for line in messages), messages


@pytest.mark.process
def test_config_check_also_checks_the_web_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("targets: []\n")
    web = tmp_path / "web.yml"
    web.write_text("http_server_config:\n  headers: {X-Frame-Options: allow}\ntls_server_confg: {}\n")
    args = ["--config.file", str(config), "--config.check", "--web.config.file", str(web)]
    result = subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == f"{config}: OK (0 target entries)\n"
    assert result.stderr.splitlines() == [
        f"{web}: http_server_config.headers: header X-Frame-Options: expected one of deny, sameorigin, got 'allow'",
        f'{web}: tls_server_confg: unknown key; did you mean "tls_server_config"?',
    ]
    web.write_text("http_server_config:\n  headers: {X-Frame-Options: deny}\n")
    result = subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == f"{web}: OK"
