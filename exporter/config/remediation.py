"""The `remediation:` config section: which alerts run which action, and the guard rails around it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Protocol

from pydantic import Field, field_validator, model_validator

from exporter.config.actions import ActionsConfig
from exporter.config.alert_matchers import Matcher, parse_matcher
from exporter.config.label_templates import LabelTemplate, parse_template
from exporter.config.types import Duration, StrictModel


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class ActionShape(Protocol):
    """What the check needs of an action (`exporter.sources.action_api.ActionSpec` is one): the
    config sits below the sources, so it names only this."""

    @property
    def qualified_name(self) -> str: ...

    @property
    def params(self) -> Sequence[_Named]: ...


class RuleConfig(StrictModel):
    """One rule. Every guard rail has a default that errs on the side of doing nothing."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    matchers: Annotated[list[str], Field(min_length=1, max_length=32)]
    action: Annotated[str, Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")]
    params: dict[str, str]
    dry_run: bool = True
    """Decide and audit, call nothing. On by default: a new rule acts only once it is switched off."""
    min_firing: Duration = 300.0
    max_per_target: Annotated[int, Field(ge=1, le=100)] = 1
    target_window: Duration = 3600.0
    budget_per_hour: Annotated[int, Field(ge=1, le=1000)] = 3
    breaker_reset: Duration = 3600.0
    verify_within: Duration = 600.0

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value

    @field_validator("params")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            try:
                parse_template(text)
            except ValueError as err:
                raise ValueError(f"{key}: {err}") from None
        return value

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(text) for text in self.matchers)

    def parsed_params(self) -> dict[str, LabelTemplate]:
        return {key: parse_template(text) for key, text in self.params.items()}


class RemediationConfig(StrictModel):
    token: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The `actions.tokens` entry Alertmanager authenticates with; its allow rules bound what rules may do."""
    rules: Annotated[list[RuleConfig], Field(max_length=1000)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> RemediationConfig:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate rule names: {', '.join(dupes)}")
        if self.rules and self.token is None:
            raise ValueError("rules need a token: name the actions.tokens entry Alertmanager uses")
        return self


def check_remediation(config: RemediationConfig, actions: ActionsConfig, specs: Iterable[ActionShape]) -> list[str]:
    """What the section cannot check alone: the token exists, each action exists with exactly its parameters."""
    errors: list[str] = []
    if config.token is not None and config.token not in {t.name for t in actions.tokens}:
        errors.append(f"remediation.token: no actions.tokens entry is named {config.token!r}")
    by_name = {spec.qualified_name: spec for spec in specs}
    for i, rule in enumerate(config.rules):
        spec = by_name.get(rule.action)
        where = f"remediation.rules[{i}]"
        if spec is None:
            errors.append(f"{where}.action: unknown action {rule.action!r} (known: {', '.join(sorted(by_name))})")
            continue
        wanted = {p.name for p in spec.params}
        missing, extra = sorted(wanted - set(rule.params)), sorted(set(rule.params) - wanted)
        if missing:
            errors.append(f"{where}.params: {rule.action} needs {', '.join(missing)}")
        if extra:
            errors.append(f"{where}.params: {rule.action} takes no {', '.join(extra)}")
    return errors
