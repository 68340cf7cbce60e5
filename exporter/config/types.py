"""Building blocks for config models: strict models, durations and secrets."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from exporter.config.errors import show
from exporter.redaction import register_secret

DEFAULT_SAMPLE_LIMIT = 50_000
"""Most device samples one poll of one target may publish (`sample_limit`; 0: no limit).

The biggest real target, a CloudTrax network, has about 60 series per strip, so this fits
networks of some 800 strips, while an upstream inventing outlets by the hundred thousand
cannot grow `/metrics` by more than a few megabytes."""

DEFAULT_MAX_ITEMS = 10_000
"""Most elements one JSON list or object of an upstream answer may hold (`max_items_per_answer`).

The largest real answers are a CloudTrax network's strip list (hundreds of strips) and a usage
history (at most 288 samples); a DLI unit has a handful of outlets and meters."""


@dataclass(frozen=True, slots=True)
class PollSettings:
    """Per-target schedule, all in seconds."""

    interval: float
    timeout: float
    stale_after: float
    sample_limit: int = DEFAULT_SAMPLE_LIMIT
    """Polls producing more device samples fail as `sample_limit`; 0 turns the check off."""
    max_items_per_answer: int = DEFAULT_MAX_ITEMS
    """Answers with a longer list or object fail as `bad_response` before they are validated."""


_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> float:
    """Parse a Prometheus-style duration (`30s`, `5m`, `1h30m`, `250ms`) to seconds."""
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION_RE.match(text)
        if text and match and any(match.groups()):
            h, m, s, ms = (int(g) if g else 0 for g in match.groups())
            seconds = h * 3600.0 + m * 60.0 + s + ms / 1000.0
            if seconds <= 0:
                raise ValueError("must be greater than 0s")  # every duration in the config is a wait or a limit
            return seconds
    raise ValueError(f"expected a duration like 30s, got {show(value)}")


def format_duration(seconds: float) -> str:
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{millis}ms"
    total = millis // 1000
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string"}),
]


class Secret:
    """A string that refuses to be shown. Use `reveal()` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)  # from here on, any echo of it is redacted from logs, pages and answers

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


def _to_secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("empty secret (is the environment variable it names set to an empty value?)")
        return Secret(value)
    # The value is not echoed: it is a secret even when YAML read it as a number.
    raise ValueError("expected a string (quote secrets that look like numbers)")


CONFIG_DIR = "config_dir"
"""Validation context key: the directory of the config file, which relative file paths in it are
relative to, as in Prometheus (not the working directory, which is / under systemd). Without it (a
config given as text), they are relative to the working directory."""


def config_path(value: str, info: ValidationInfo) -> Path:
    """A file path of the config, joined to the config file's directory when it is relative."""
    base = (info.context or {}).get(CONFIG_DIR)
    return Path(base) / value if base is not None else Path(value)


def shown_path(value: str, path: Path) -> str:
    """The path as written, and where it was looked for when that differs."""
    return f'"{value}"' if str(path) == value else f'"{value}" ({path})'


def _file_path(value: object, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a file path, got {show(value)}")
    path = config_path(value, info)
    if not path.is_file():
        raise ValueError(f"cannot read {shown_path(value, path)}: no such file")
    return str(path)


FilePath = Annotated[str, BeforeValidator(_file_path)]
"""A file the exporter opens later (a CA bundle): checked at load, kept joined to the config's directory."""


def _read_secret_file(value: object, info: ValidationInfo) -> Secret:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a file path, got {show(value)}")
    path = config_path(value, info)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"cannot read {shown_path(value, path)}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ValueError(f"cannot read {shown_path(value, path)}: not UTF-8 text") from None
    if not secret:
        raise ValueError(f"{shown_path(value, path)} is empty")
    return Secret(secret)


SecretStr = Annotated[
    Secret,
    BeforeValidator(_to_secret),
    PlainSerializer(lambda s: "<secret>", return_type=str),
    WithJsonSchema({"type": "string"}),
]
"""An inline secret (usually `${ENV_VAR}`), rendered as `<secret>`."""

SecretFile = Annotated[
    Secret,
    BeforeValidator(_read_secret_file),
    PlainSerializer(lambda s: "<secret>", return_type=str),
    WithJsonSchema({"type": "string"}),
]
"""A `*_file` key: the file, relative to the config file's directory, is read at load and reload; its
contents are the secret."""


def pick_secret(entry: BaseModel, inline: str, from_file: str, *, required: bool = True) -> None:
    """Check that exactly one of `inline` / `from_file` is set (raises ValueError for pydantic)."""
    has_inline = getattr(entry, inline) is not None
    has_file = getattr(entry, from_file) is not None
    if has_inline and has_file:
        raise ValueError(f"set either {inline} or {from_file}, not both")
    if required and not (has_inline or has_file):
        raise ValueError(f"one of {inline} or {from_file} is required")


class StrictModel(BaseModel):
    """Rejects unknown keys and silent coercions (YAML `true` is not an int); never mutated after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, arbitrary_types_allowed=True)


class TargetEntry(StrictModel):
    """Keys every `targets[]` entry has, whatever its source."""

    source: str
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    interval: Duration | None = None
    timeout: Duration | None = None
    stale_after: Duration | None = None
    sample_limit: Annotated[int, Field(ge=0)] | None = None
    max_items_per_answer: Annotated[int, Field(ge=1)] | None = None

    deprecated_keys: ClassVar[dict[str, str]] = {}
    """Old key name to new: still read, with a warning (`Config.warnings`), so configs keep working."""

    @field_validator("timeout")
    @classmethod
    def _timeout_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        interval = info.data.get("interval")
        if value is not None and interval is not None and value > interval:
            raise ValueError(f"must not exceed interval ({format_duration(interval)}), got {format_duration(value)}")
        return value


def reveal_all(value: Any) -> Any:
    """Dump helper for fingerprints: secrets in clear, used only for hashing."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, BaseModel):
        return {k: reveal_all(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [reveal_all(v) for v in value]
    if isinstance(value, dict):
        return {k: reveal_all(v) for k, v in value.items()}
    return value
