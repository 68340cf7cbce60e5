"""config.example.yaml stays valid and covers every key the schema has."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from exporter.config.loader import load_config
from exporter.config.model import build_config_model
from exporter.sources.registry import load_sources

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "config.example.yaml").read_text()
    for name in ("CLOUDTRAX_KEY", "CLOUDTRAX_SECRET", "DLI_PASSWORD", "LAB_EPCR_PASSWORD", "ONCALL_TOKEN"):
        monkeypatch.setenv(name, f"{name.lower()}-value-of-some-length")
    (tmp_path / "config.yml").write_text(text)
    config = load_config(tmp_path / "config.yml", load_sources())
    assert [e.source for e in config.entries] == ["cloudtrax", "dli", "dli"]
    assert len(config.actions.tokens) == 3
    assert [r.name for r in config.remediation.rules] == ["cycle-unreachable-host"]


def test_example_config_mentions_every_key() -> None:
    text = (ROOT / "config.example.yaml").read_text()
    sources = load_sources()
    for source in sources.values():
        for key in source.entry_model.model_fields:
            assert f"{key}:" in text, f"config.example.yaml does not show {source.name} key {key!r}"


def test_example_config_shows_every_remediation_key() -> None:
    from exporter.config.remediation import RemediationConfig, RuleConfig

    text = (ROOT / "config.example.yaml").read_text()
    for model in (RemediationConfig, RuleConfig):
        for key in model.model_fields:
            assert f"{key}:" in text, f"config.example.yaml does not show remediation key {key!r}"


def _models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """`model` and every model its fields hold, however nested (in lists, dicts, unions)."""
    yield model
    for field in model.model_fields.values():
        pending: list[Any] = [field.annotation]
        while pending:
            kind = pending.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _models(kind)
            else:
                pending.extend(typing.get_args(kind))


def test_example_config_shows_every_key_of_the_exporter() -> None:
    """Every key of `global`, `sources.<name>`, `actions` and `remediation` (the vendors' are above)."""
    text = (ROOT / "config.example.yaml").read_text()
    schema = build_config_model(load_sources())
    missing = sorted(
        {
            f"{model.__name__}.{field.alias or name}"
            for model in _models(schema)
            if model.__module__.startswith("exporter.config")
            for name, field in model.model_fields.items()
            if f"{field.alias or name}:" not in text
        }
    )
    assert not missing, f"config.example.yaml does not show {missing}"
