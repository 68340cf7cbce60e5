"""`sample_limit` and `max_items_per_answer`: global defaults, per-entry overrides, and bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from exporter.config.model import GlobalConfig, effective_settings
from exporter.sources.api import DEFAULT_MAX_ITEMS, DEFAULT_SAMPLE_LIMIT
from exporter.sources.dli.config import DliEntry


def _entry(**extra: object) -> DliEntry:
    return DliEntry.model_validate(
        {"source": "dli", "name": "u", "url": "http://192.0.2.1", "username": "a", "password": "p", **extra}
    )


def test_defaults_reach_every_target() -> None:
    settings = effective_settings(_entry(), GlobalConfig())
    assert (settings.sample_limit, settings.max_items_per_answer) == (DEFAULT_SAMPLE_LIMIT, DEFAULT_MAX_ITEMS)
    assert GlobalConfig().poll_settings().sample_limit == DEFAULT_SAMPLE_LIMIT


def test_global_then_entry_overrides() -> None:
    defaults = GlobalConfig.model_validate({"sample_limit": 0, "max_items_per_answer": 50})
    assert effective_settings(_entry(), defaults).sample_limit == 0  # 0: no limit
    settings = effective_settings(_entry(sample_limit=300, max_items_per_answer=7), defaults)
    assert (settings.sample_limit, settings.max_items_per_answer) == (300, 7)


@pytest.mark.parametrize("extra", [{"sample_limit": -1}, {"max_items_per_answer": 0}, {"sample_limit": "10"}])
def test_out_of_range_limits_are_config_errors(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _entry(**extra)
    with pytest.raises(ValidationError):
        GlobalConfig.model_validate(extra)
