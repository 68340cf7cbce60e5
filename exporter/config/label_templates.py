"""The small part of Go templates that rules need: literal text and `{{ .Labels.name }}`.

Anything else between `{{` and `}}` is refused when the config is loaded, so a rule can only ever
copy alert labels, never compute or call something.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_LABEL_REF = re.compile(r"^\s*\.Labels\.([A-Za-z_][A-Za-z0-9_]*)\s*$")
MAX_RENDERED = 128


class TemplateError(ValueError):
    """A template that cannot be rendered for an alert (a label it names is missing or empty)."""


@dataclass(frozen=True, slots=True)
class LabelTemplate:
    source: str
    parts: tuple[tuple[str, bool], ...]
    """(text, is_label): literal text, or the name of a label to copy."""

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(text for text, is_label in self.parts if is_label)

    def render(self, labels: dict[str, str]) -> str:
        out: list[str] = []
        for text, is_label in self.parts:
            if not is_label:
                out.append(text)
                continue
            value = labels.get(text, "")
            if not value:
                raise TemplateError(f"label {text!r} is missing or empty")
            out.append(value)
        rendered = "".join(out)
        if len(rendered) > MAX_RENDERED:
            raise TemplateError(f"{self.source!r} renders to more than {MAX_RENDERED} characters")
        return rendered


def parse_template(source: str) -> LabelTemplate:
    """Raises ValueError for anything but literal text and `{{ .Labels.name }}`."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _ACTION.finditer(source):
        literal = source[position : match.start()]
        position = match.end()
        _check_literal(source, literal)
        if literal:
            parts.append((literal, False))
        ref = _LABEL_REF.match(match.group(1))
        if ref is None:
            raise ValueError(
                f"{source!r}: only {{{{ .Labels.<name> }}}} is supported inside {{{{ }}}}, got {match.group(0)!r}"
            )
        parts.append((ref.group(1), True))
    literal = source[position:]
    _check_literal(source, literal)
    if literal:
        parts.append((literal, False))
    if not parts:
        raise ValueError("must not be empty")
    return LabelTemplate(source, tuple(parts))


def _check_literal(source: str, literal: str) -> None:
    if "{{" in literal or "}}" in literal:
        raise ValueError(f"{source!r}: unbalanced {{{{ or }}}}")
