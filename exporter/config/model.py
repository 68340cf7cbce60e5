"""The top-level config schema, assembled from the registered sources' entry models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Protocol, Union

from pydantic import Discriminator, Field, Tag, ValidationInfo, create_model, field_validator

from exporter.config.actions import ActionsConfig
from exporter.config.remediation import ActionShape, RemediationConfig
from exporter.config.types import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_SAMPLE_LIMIT,
    Duration,
    PollSettings,
    StrictModel,
    TargetEntry,
    format_duration,
)


class EntrySchema(Protocol):
    """What the config needs of a source (`exporter.sources.api.Source` is one): the model of its entries."""

    @property
    def entry_model(self) -> type[TargetEntry]: ...

    def actions(self) -> Sequence[ActionShape]: ...


class GlobalConfig(StrictModel):
    """Defaults for every target; an entry may override interval, timeout, stale_after and the two limits."""

    interval: Duration = 60.0
    timeout: Duration = 10.0
    stale_after: Duration = 300.0
    sample_limit: Annotated[int, Field(ge=0)] = DEFAULT_SAMPLE_LIMIT
    max_items_per_answer: Annotated[int, Field(ge=1)] = DEFAULT_MAX_ITEMS
    jitter: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    backoff_max: Duration = 600.0

    @field_validator("timeout")
    @classmethod
    def _timeout_fits(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if interval is not None and value > interval:
            raise ValueError(f"must not exceed interval ({format_duration(interval)}), got {format_duration(value)}")
        return value

    def poll_settings(self) -> PollSettings:
        return PollSettings(
            self.interval,
            self.timeout,
            self.stale_after,
            sample_limit=self.sample_limit,
            max_items_per_answer=self.max_items_per_answer,
        )


class SourceSettings(StrictModel):
    """Per-source knobs shared by all targets of that source."""

    max_concurrent_requests: Annotated[int, Field(ge=1, le=1024)] | None = None
    backoff_max: Duration | None = None
    """Cap of the back-off of this source's failing targets (None: the source's default)."""


class ConfigBase(StrictModel):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    targets: list[Any] = Field(default_factory=list)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    remediation: RemediationConfig = Field(default_factory=RemediationConfig)


def _source_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("source")
        return tag if isinstance(tag, str) else None
    return getattr(value, "source", None)


def build_config_model(sources: Mapping[str, EntrySchema]) -> type[ConfigBase]:
    """A model whose `targets` is a union discriminated by each entry's `source`."""
    choices = tuple(Annotated[src.entry_model, Tag(name)] for name, src in sources.items())
    entry_type: Any
    if choices:
        entry_type = Annotated[Union[choices], Discriminator(_source_tag)]  # noqa: UP007
    else:
        entry_type = TargetEntry
    model: type[ConfigBase] = create_model(
        "ExporterConfig",
        __base__=ConfigBase,
        targets=(list[entry_type], Field(default_factory=list)),
    )
    return model


def effective_settings(entry: TargetEntry, defaults: GlobalConfig) -> PollSettings:
    interval = entry.interval if entry.interval is not None else defaults.interval
    timeout = entry.timeout if entry.timeout is not None else min(defaults.timeout, interval)
    stale = entry.stale_after if entry.stale_after is not None else defaults.stale_after
    return PollSettings(
        interval=interval,
        timeout=timeout,
        stale_after=stale,
        sample_limit=entry.sample_limit if entry.sample_limit is not None else defaults.sample_limit,
        max_items_per_answer=(
            entry.max_items_per_answer if entry.max_items_per_answer is not None else defaults.max_items_per_answer
        ),
    )
