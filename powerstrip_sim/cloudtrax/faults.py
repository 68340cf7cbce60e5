"""Faults switchable at run time, per strip, per network or for every API request."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

FaultKind = Literal["latency", "http_5xx", "rate_limit", "malformed_json", "html", "drop", "expired_key"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# When several faults match one request, the first kind in this order answers it
# (latency only delays and then lets the next one, or the real handler, answer).
_PRECEDENCE = ("drop", "expired_key", "rate_limit", "http_5xx", "html", "malformed_json")


@dataclass(frozen=True)
class Fault:
    """One fault. `seconds` is for latency, `status` for http_5xx/html, `retry_after` for rate_limit."""

    kind: FaultKind
    seconds: float = 0.0
    status: int | None = None
    retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.seconds < 0 or self.retry_after < 0:
            raise ValueError("seconds and retry_after must not be negative")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status, got {self.status}")

    @property
    def http_status(self) -> int:
        if self.status is not None:
            return self.status
        return 503 if self.kind == "http_5xx" else 200


Scope = tuple[Literal["all", "network", "strip"], int]
ALL: Scope = ("all", 0)


@dataclass(frozen=True)
class ActiveFaults:
    """What applies to one request: total added latency and at most one answering fault."""

    latency: float = 0.0
    answer: Fault | None = None


class FaultTable:
    """Faults by scope; setting a kind again in the same scope replaces it."""

    def __init__(self) -> None:
        self._faults: dict[Scope, dict[str, Fault]] = {}

    def set(self, fault: Fault, *, network_id: int | None = None, powerstrip_id: int | None = None) -> None:
        self._faults.setdefault(_scope(network_id, powerstrip_id), {})[fault.kind] = fault

    def clear(
        self, *, network_id: int | None = None, powerstrip_id: int | None = None, kind: str | None = None
    ) -> None:
        """Clear one scope (or everything when no scope is given); optionally only one kind."""
        if network_id is None and powerstrip_id is None and kind is None:
            self._faults.clear()
            return
        scope = _scope(network_id, powerstrip_id)
        if kind is None:
            self._faults.pop(scope, None)
        else:
            self._faults.get(scope, {}).pop(kind, None)

    def __bool__(self) -> bool:
        return any(self._faults.values())

    def resolve(self, network_id: int | None, powerstrip_id: int | None) -> ActiveFaults:
        scopes: list[Scope] = []
        if powerstrip_id is not None:
            scopes.append(("strip", powerstrip_id))
        if network_id is not None:
            scopes.append(("network", network_id))
        scopes.append(ALL)
        matching = [f for s in scopes for f in self._faults.get(s, {}).values()]
        latency = max((f.seconds for f in matching if f.kind == "latency"), default=0.0)
        answer = None
        for kind in _PRECEDENCE:
            answer = next((f for f in matching if f.kind == kind), None)
            if answer is not None:
                break
        return ActiveFaults(latency, answer)

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for (kind, ident), faults in self._faults.items():
            for fault in faults.values():
                item: dict[str, Any] = asdict(fault)
                if kind == "network":
                    item["network_id"] = ident
                elif kind == "strip":
                    item["powerstrip_id"] = ident
                out.append(item)
        return out


def _scope(network_id: int | None, powerstrip_id: int | None) -> Scope:
    if network_id is not None and powerstrip_id is not None:
        raise ValueError("give network_id or powerstrip_id, not both")
    if powerstrip_id is not None:
        return ("strip", powerstrip_id)
    if network_id is not None:
        return ("network", network_id)
    return ALL


def fault_from_json(data: Any) -> tuple[Fault, int | None, int | None]:
    """Parse a `POST /_sim/faults` body: {"kind": ..., "network_id"|"powerstrip_id": ..., params}."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    allowed = {"kind", "network_id", "powerstrip_id", "seconds", "status", "retry_after"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise ValueError("kind is required")
    network_id = _opt_int(data.get("network_id"), "network_id")
    powerstrip_id = _opt_int(data.get("powerstrip_id"), "powerstrip_id")
    status = _opt_int(data.get("status"), "status")
    fault = Fault(
        kind=kind,  # type: ignore[arg-type]  # checked in __post_init__
        seconds=float(data.get("seconds", 0.0)),
        status=status,
        retry_after=float(data.get("retry_after", 30.0)),
    )
    return fault, network_id, powerstrip_id


def _opt_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value
