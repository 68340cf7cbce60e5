"""What the README and docs/configuration.md claim about the command line, the pages and the alerts is true."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from exporter.cli import build_parser
from exporter.daemon import Daemon
from exporter.sources.registry import load_sources
from exporter.web.app import build_app
from tests.ops import opslib

README = (opslib.REPO / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (opslib.DOCS_DIR / "configuration.md").read_text(encoding="utf-8")
OTHER_TOOLS_FLAGS = {"--build-arg", "--abbrev-ref", "--sizes", "--fast", "--strict"}
"""Flags the README gives to other commands: `docker build`, `git rev-parse`, `python -m bench.run`,
`./scripts/test`, `mypy`."""


def section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every subcommand's, recursively."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += parsers(sub)
    return found


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings if option.startswith("--")}


def test_readme_lists_every_shipped_alert(alert_rules: list[dict[str, Any]]) -> None:
    listed = set(re.findall(r"\bPowerStrip\w+", section(README, "Alerts")))
    assert listed == {rule["alert"] for rule in alert_rules}


def test_every_flag_the_readme_names_exists() -> None:
    known = set().union(*(flags(p) for p in parsers(build_parser())))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9.-]*[a-z0-9](?:\.\*)?", README)) - OTHER_TOOLS_FLAGS
    missing = [
        flag
        for flag in named
        if not (any(k.startswith(flag[:-1]) for k in known) if flag.endswith(".*") else flag in known)
    ]
    assert not missing, sorted(missing)


def test_configuration_md_documents_every_flag_and_command() -> None:
    parser = build_parser()
    for flag in sorted(flags(parser) - {"--help"}):
        assert f"`{flag}`" in CONFIGURATION or f"`{flag}," in CONFIGURATION, f"{flag} is not in docs/configuration.md"
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        tools = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        documented = [f"{name} {tool}" for action in tools for tool in action.choices] or [name]
        for command in documented:
            assert re.search(rf"^\| `{command}[` ]", CONFIGURATION, re.M), f"{command} is not in docs/configuration.md"


def test_every_page_in_the_readme_table_is_served(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("targets: []\n", encoding="utf-8")
    app = build_app(Daemon(config, load_sources()), enable_lifecycle=True)
    routes = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource is not None}
    rows = re.findall(r"^\| `(?:(POST) )?(/[^`]*)` \|", section(README, "Running it"), re.M)
    assert len(rows) >= 8
    for method, path in rows:
        if path.endswith("..."):
            prefix = path.removesuffix("...")
            assert any(m == (method or "GET") and p.startswith(prefix) for m, p in routes), path
        else:
            assert (method or "GET", path) in routes, path
