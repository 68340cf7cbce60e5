"""Label matchers in Alertmanager's syntax: `name="value"`, `name!=value`, `name=~"re"`, `name!~"re"`.

Regexes are fully anchored, as Alertmanager anchors them; a label that is absent matches as "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^"\s{}!=~,]*)\s*$""",
    re.DOTALL,
)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Operator
    value: str
    pattern: re.Pattern[str] | None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.pattern is not None:
            found = self.pattern.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        return (actual == self.value) if self.op == "=" else (actual != self.value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(text: str) -> str:
    if not text.startswith('"'):
        return text
    out: list[str] = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]
            if escaped not in _ESCAPES:
                raise ValueError(f"unknown escape \\{escaped} in {text}")
            out.append(_ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """One matcher; raises ValueError naming what is wrong."""
    match = _MATCHER.match(text)
    if match is None:
        raise ValueError(f'expected a matcher like alertname="HostDown" or job=~"blackbox.*", got {text!r}')
    name, op, raw = match.group("name"), match.group("op"), match.group("value")
    value = _unquote(raw)
    pattern: re.Pattern[str] | None = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as err:
            raise ValueError(f"{text!r}: invalid regular expression: {err}") from None
    return Matcher(name, op, value, pattern)  # type: ignore[arg-type]  # the regex admits only Operator values
