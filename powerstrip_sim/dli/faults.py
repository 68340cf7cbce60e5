"""Faults the simulator can inject, switchable at runtime from tests or `/_sim/faults`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Faults:
    """All off by default. `path_prefix` limits every fault to paths under it (relative to /restapi/)."""

    latency: float = 0.0
    """Seconds added before every answer."""
    http_status: int | None = None
    """Answer every request with this status (e.g. 500 or 503)."""
    retry_after: int | None = None
    """With `http_status`: the seconds its `Retry-After` header asks the client to wait."""
    malformed_json: bool = False
    """JSON answers are cut off mid-document."""
    html_page: bool = False
    """Answer 200 with an HTML page, like a captive portal or the browsable UI."""
    drop_connection: bool = False
    """Close the connection without answering."""
    wrong_credentials: bool = False
    """Reject every login, as if the password had been changed on the unit."""
    locked_outlets: tuple[int, ...] | None = None
    """Outlets locked (as from the keypad); writes to them answer 409."""
    path_prefix: str = ""

    def active(self) -> bool:
        return self != Faults(path_prefix=self.path_prefix)

    def applies(self, path: str) -> bool:
        return path.startswith(self.path_prefix)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.locked_outlets is not None:
            data["locked_outlets"] = list(self.locked_outlets)
        return data

    def merged(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with `changes` applied; raises ValueError naming a bad key or value."""
        known = {f.name for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
            clean[key] = _check(key, value)
        return replace(self, **clean)


def _check(key: str, value: Any) -> Any:
    if key == "latency":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("latency must be a number of seconds >= 0")
        return float(value)
    if key == "http_status":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599):
            raise ValueError("http_status must be null or an HTTP error status (400-599)")
        return value
    if key == "retry_after":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError("retry_after must be null or whole seconds >= 0")
        return value
    if key == "locked_outlets":
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value
        ):
            raise ValueError("locked_outlets must be null or a list of outlet indices")
        return tuple(value)
    if key == "path_prefix":
        if not isinstance(value, str):
            raise ValueError("path_prefix must be a string")
        return value.lstrip("/")
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value
