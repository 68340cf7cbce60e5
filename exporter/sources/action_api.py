"""What a source declares to offer an action, and the errors an action may raise.

Part of the source contract (a source lists its `ActionSpec`s); the action service in
`exporter.actions`, a layer above, authorizes, rate-limits and performs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from exporter.metrics.reasons import ActionFailureReason
from exporter.sources.api import Target


@dataclass(frozen=True, slots=True)
class ActionParam:
    """A path parameter. Integers are range-checked before anything else happens."""

    name: str
    description: str
    kind: Literal["integer", "string"] = "string"
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None


class ActionEnv(Protocol):
    """The read-only view of the running exporter an action resolves against.

    An action checks what it acts on against the inventory its target kept from the last poll
    (each vendor target's `inventory`), never against metric labels, and only while `has_data`.
    """

    def target(self, source: str, name: str) -> Target | None:
        """The target being polled under that name, or None."""
        ...

    def targets(self, source: str) -> Sequence[Target]:
        """Every target of the source being polled."""
        ...

    def has_data(self, source: str, name: str) -> bool:
        """Whether the target's latest snapshot holds data: false before its first success and once stale."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    upstream_status: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """A validated request: who is acted on, what would happen, and how to do it."""

    description: str
    perform: Callable[[], Awaitable[Outcome]]
    protected: str | None = None
    """Why automation must leave this target alone (e.g. an outlet marked critical), if it must."""
    critical: str | None = None
    """Why a person must confirm acting on this target with `?confirm=critical` (e.g. an outlet marked
    critical on its device), if they must. Automation never acts on it."""


class ActionError(Exception):
    """A refusal or failure with the HTTP status and metric reason it maps to."""

    def __init__(
        self, status: int, reason: ActionFailureReason, detail: str, upstream_status: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason: ActionFailureReason = reason
        self.detail = detail
        self.upstream_status = upstream_status


def not_found(detail: str) -> ActionError:
    return ActionError(404, "not_found", detail)


def invalid(detail: str) -> ActionError:
    return ActionError(400, "invalid", detail)


def upstream_failed(detail: str, upstream_status: int | None) -> ActionError:
    return ActionError(502, "upstream", detail, upstream_status)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action route, e.g. `POST /api/v1/dli/{device}/outlets/{outlet}/cycle`."""

    source: str
    action: str
    path: str
    """Below /api/v1, with `{param}` placeholders."""
    params: tuple[ActionParam, ...]
    target_param: str
    """The path parameter that `allow` rules are keyed on: the unit acted on (a device, a strip). Any
    other path parameter names a part of it (an outlet, a port); the cooldown is kept per part."""
    summary: str
    resolve: Callable[[ActionEnv, Mapping[str, int | str]], Resolved]
    """Validate against the latest snapshot; raise not_found()/invalid(). Must not call upstream."""
    known: Callable[[ActionEnv, str], bool]
    """Whether a value of `target_param` names something the exporter knows (a configured device, a
    strip in an inventory). Only such a name is repeated in answers and the audit: a string a caller
    made up is never echoed."""

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.action}"
