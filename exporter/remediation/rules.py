"""A configured rule, compiled: its matchers, label templates and action, and what it makes of an alert.

Shared by the webhook and by `remediation try`, so the offline answer is the one the running
exporter gives for the steps that need no state.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.actions.service import parse_params
from exporter.config.alert_matchers import Matcher
from exporter.config.label_templates import LabelTemplate
from exporter.config.remediation import RemediationConfig, RuleConfig
from exporter.sources.action_api import ActionSpec


class Rule:
    def __init__(self, config: RuleConfig, spec: ActionSpec) -> None:
        self.config = config
        self.name = config.name
        self.spec = spec
        self.matchers: tuple[Matcher, ...] = config.parsed_matchers()
        self.params: dict[str, LabelTemplate] = config.parsed_params()

    def mismatch(self, labels: dict[str, str]) -> Matcher | None:
        """The first matcher the labels fail, or None when the rule matches."""
        return next((m for m in self.matchers if not m.matches(labels)), None)

    def matches(self, labels: dict[str, str]) -> bool:
        return self.mismatch(labels) is None

    def params_for(self, labels: dict[str, str]) -> dict[str, int | str]:
        """The action's parameters from the alert's labels; raises TemplateError or ActionError (invalid)."""
        rendered = {name: template.render(labels) for name, template in self.params.items()}
        return parse_params(self.spec, rendered)

    def target_of(self, params: dict[str, int | str]) -> str:
        """What the per-target limit counts: the action and all its parameters."""
        return self.spec.qualified_name + " " + " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def compile_rules(config: RemediationConfig, specs: Iterable[ActionSpec]) -> tuple[Rule, ...]:
    """The section's rules in order; the config loader has checked that every action exists."""
    by_name = {spec.qualified_name: spec for spec in specs}
    return tuple(Rule(rc, by_name[rc.action]) for rc in config.rules)
