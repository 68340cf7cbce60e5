"""Config errors as `yaml.path: message` lines, all collected before reporting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from exporter.config.suggest import allowed_keys, did_you_mean


class ConfigError(Exception):
    """One or more problems, each naming its YAML path."""

    def __init__(self, messages: Sequence[str], *, located: bool = False) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)
        self.located = located
        """The messages already name the file (`file:line:column: ...`): print them as they are."""


def format_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{key_text(part)}" if out else key_text(str(part))
    return out or "(top level)"


_SHOW_MAX = 80
"""A value quoted in an error is cut to this many characters: the message names it, it need not repeat it."""


def _bounded(text: str) -> str:
    return text if len(text) <= _SHOW_MAX else text[:_SHOW_MAX] + "..."


def key_text(key: str) -> str:
    """A key as an error path shows it: as written when printable, else quoted with escapes (one line)."""
    key = _bounded(key)
    return key if key.isprintable() else json.dumps(key)


def show(value: Any) -> str:
    """A config value as an error message quotes it: on one line (non-printables escaped), bounded in length."""
    if isinstance(value, str):
        text = _bounded(value)
        return f'"{text}"' if text.isprintable() else json.dumps(text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _message(err: Any, known_sources: set[str]) -> str:
    kind = err["type"]
    got = show(err.get("input"))
    ctx = err.get("ctx") or {}
    simple = {
        "missing": "required key missing",
        "extra_forbidden": "unknown key",
    }
    if kind in simple:
        return simple[kind]
    expected = {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "an integer",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "url_parsing": "an http(s) URL",
        "url_scheme": "an http(s) URL",
        "url_type": "an http(s) URL",
    }
    if kind in expected:
        return f"expected {expected[kind]}, got {got}"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {got}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {got}"
    if kind == "string_too_short":
        return f"must be at least {ctx.get('min_length')} characters, got {got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items"
    if kind == "union_tag_invalid":
        return f"unknown source {show(ctx.get('tag'))} (known: {', '.join(sorted(known_sources))})"
    if kind == "union_tag_not_found":
        return "required key missing" if isinstance(err.get("input"), dict) else f"expected a mapping, got {got}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def from_validation_error(
    exc: ValidationError, source_names: set[str], model: type[BaseModel] | None = None
) -> list[str]:
    """One `path: message` line per error; with `model`, unknown keys get the closest allowed key."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        hint = ""
        if err["type"] == "extra_forbidden" and model is not None and loc and isinstance(loc[-1], str):
            hint = did_you_mean(loc[-1], allowed_keys(model, loc[:-1]))
        # A discriminated union adds the tag after targets[i]; YAML has no such level.
        if len(loc) >= 3 and loc[0] == "targets" and isinstance(loc[1], int) and loc[2] in source_names:
            del loc[2]
        if loc and loc[0] == "global_":
            loc[0] = "global"
        kind = err["type"]
        if kind == "union_tag_invalid" or (kind == "union_tag_not_found" and isinstance(err.get("input"), dict)):
            loc.append("source")
        lines.append(f"{format_path(loc)}: {_message(err, source_names)}{hint}")
    return lines
