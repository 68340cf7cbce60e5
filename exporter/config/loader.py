"""Read, expand and validate a config file into an immutable `Config`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config.actions import ActionsConfig
from exporter.config.errors import ConfigError, format_path, from_validation_error, key_text, show
from exporter.config.model import ConfigBase, EntrySchema, GlobalConfig, SourceSettings, build_config_model
from exporter.config.remediation import RemediationConfig, check_remediation
from exporter.config.suggest import did_you_mean
from exporter.config.types import CONFIG_DIR, TargetEntry, reveal_all
from exporter.config.yamlerrors import yaml_syntax_error

_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?")


@dataclass(frozen=True)
class Config:
    """A validated config. `entries` keep config order."""

    global_: GlobalConfig
    sources: dict[str, SourceSettings]
    entries: tuple[TargetEntry, ...]
    actions: ActionsConfig
    model: ConfigBase
    remediation: RemediationConfig
    warnings: tuple[str, ...] = ()
    """Deprecated keys that were read under their new names; shown by --config.check and logged at load."""

    def redacted(self) -> dict[str, Any]:
        """The config as `/config` shows it: secrets as `<secret>`."""
        data: dict[str, Any] = self.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data


def entry_fingerprint(entry: TargetEntry) -> str:
    """A stable digest of everything in an entry, secrets included, for reload diffs."""
    blob = json.dumps(reveal_all(entry), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _expand_env(node: Any, path: list[str | int], errors: list[str]) -> Any:
    if isinstance(node, str):

        def repl(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name is None:
                errors.append(
                    f"{format_path(path)}: invalid reference {match.group(0)!r}; write ${{NAME}}, or $$ for a literal $"
                )
                return match.group(0)  # left as written: the one error above is the whole story
            value = os.environ.get(name)
            if value is None:
                errors.append(f"{format_path(path)}: environment variable {name} is not set")
                return match.group(0)
            return value

        return _ENV_RE.sub(repl, node)
    if isinstance(node, dict):
        return {k: _expand_env(v, [*path, str(k)], errors) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, [*path, i], errors) for i, v in enumerate(node)]
    return node


def _check_unique_names(raw: dict[str, Any], errors: list[str]) -> None:
    targets = raw.get("targets")
    if not isinstance(targets, list):
        return
    seen: dict[tuple[object, object], int] = {}
    for i, entry in enumerate(targets):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        key = (entry.get("source"), entry["name"])
        if key in seen:
            errors.append(
                f"targets[{i}].name: duplicate target name {show(entry['name'])} (first used at targets[{seen[key]}])"
            )
        else:
            seen[key] = i


def _rename_deprecated(
    raw: dict[str, Any], sources: Mapping[str, EntrySchema], errors: list[str], warnings: list[str]
) -> None:
    """Read each source's deprecated key names as their new ones, once, with a warning."""
    targets = raw.get("targets")
    if not isinstance(targets, list):
        return
    for i, entry in enumerate(targets):
        name = entry.get("source") if isinstance(entry, dict) else None
        source = sources.get(name) if isinstance(name, str) else None
        if source is None:
            continue
        for old, new in source.entry_model.deprecated_keys.items():
            if old not in entry:
                continue
            if new in entry:
                errors.append(f"targets[{i}].{old}: deprecated name of {new}; set only {new}")
                continue
            warnings.append(f"targets[{i}].{old}: deprecated, rename it to {new}")
            entry[new] = entry.pop(old)


def parse_config(
    text: str, sources: Mapping[str, EntrySchema], origin: str = "<config>", base_dir: Path | None = None
) -> Config:
    """`base_dir`: the directory relative file paths in the text are relative to (the config file's)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise yaml_syntax_error(origin, err) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): expected a mapping, got {show(raw)}"])
    errors: list[str] = []
    raw = _expand_env(raw, [], errors)
    warnings: list[str] = []
    _rename_deprecated(raw, sources, errors, warnings)
    _check_unique_names(raw, errors)
    unknown_sources = [name for name in (raw.get("sources") or {}) if name not in sources]
    if isinstance(raw.get("sources"), dict):
        for name in unknown_sources:
            hint = did_you_mean(str(name), sources)
            errors.append(f"sources.{key_text(str(name))}: unknown source (known: {', '.join(sorted(sources))}){hint}")
    model_cls = build_config_model(sources)
    model: ConfigBase | None = None
    try:
        model = model_cls.model_validate(raw, context={CONFIG_DIR: base_dir} if base_dir is not None else None)
    except ValidationError as exc:
        errors = from_validation_error(exc, set(sources), model_cls) + errors
    if model is not None:
        specs = (spec for source in sources.values() for spec in source.actions())
        errors += check_remediation(model.remediation, model.actions, specs)
    if errors or model is None:
        raise ConfigError(errors)
    return Config(
        global_=model.global_,
        sources=dict(model.sources),
        entries=tuple(model.targets),
        actions=model.actions,
        model=model,
        warnings=tuple(warnings),
        remediation=model.remediation,
    )


def load_config(path: str | Path, sources: Mapping[str, EntrySchema]) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read config file {path}: {err.strerror or err}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"cannot read config file {path}: not UTF-8 text"]) from None
    return parse_config(text, sources, str(path), base_dir=Path(path).parent)
