"""Immutable per-target state and the store that swaps it atomically.

A scrape reads `SnapshotStore.states` once and renders from that mapping;
writers replace the whole mapping, so a reader never sees half a poll.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from exporter.metrics.reasons import (
    POLL_FAILURE_REASONS,
    VALUE_REFUSAL_REASONS,
    PollFailureReason,
    ValueRefusalReason,
)
from exporter.metrics.render import RenderedFamily, render_families
from exporter.metrics.spec import EMPTY, SampleSet
from exporter.sources.api import Component

TargetKey = tuple[str, str]
"""(source, target name)"""


@dataclass(frozen=True, slots=True)
class TargetState:
    source: str
    name: str
    up: bool = False
    attempted: bool = False
    polls: int = 0
    failures: Mapping[PollFailureReason, int] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(POLL_FAILURE_REASONS, 0))
    )
    refused: Mapping[ValueRefusalReason, int] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(VALUE_REFUSAL_REASONS, 0))
    )
    """Device values the target's polls read but did not export, by reason."""
    last_success: float | None = None
    last_error: str | None = None
    last_reason: PollFailureReason | None = None
    last_duration: float | None = None
    stale: bool = False
    samples: SampleSet = EMPTY
    components: Sequence[Component] = ()
    """What the poll of `samples` found (the target's strips or outlets), for the landing page."""
    _rendered: list[tuple[RenderedFamily, ...]] = field(init=False, repr=False, compare=False)
    """`samples` as exposition lines, once someone asked for them (see `rendered`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rendered", [])

    @property
    def key(self) -> TargetKey:
        return (self.source, self.name)

    def rendered(self, names: frozenset[str] | None = None) -> tuple[RenderedFamily, ...]:
        """`samples` as exposition lines: all of them rendered at most once per state, and only once a
        body is built (an exporter nobody scrapes renders nothing); with `names`, only those families,
        rendered now and not kept. Safe from any thread: two threads rendering at once render the same."""
        if names is not None:
            return render_families(f for f in self.samples.families if f.spec.name in names)
        if not self._rendered:
            self._rendered[:] = [render_families(self.samples.families)]
        return self._rendered[0]

    def after_success(
        self, samples: SampleSet, duration: float, now: float, components: Sequence[Component] = ()
    ) -> TargetState:
        refused = self.refused
        if samples.refused:
            counts = dict(refused)
            for refusal in samples.refused:
                counts[refusal.reason] = counts.get(refusal.reason, 0) + 1
            refused = MappingProxyType(counts)
        return replace(
            self,
            refused=refused,
            up=True,
            attempted=True,
            polls=self.polls + 1,
            last_success=now,
            last_error=None,
            last_reason=None,
            last_duration=duration,
            stale=False,
            samples=samples,
            components=components,
        )

    def after_failure(self, reason: PollFailureReason, error: str, duration: float) -> TargetState:
        failures = dict(self.failures)
        failures[reason] = failures.get(reason, 0) + 1
        return replace(
            self,
            up=False,
            attempted=True,
            polls=self.polls + 1,
            failures=MappingProxyType(failures),
            last_error=error,
            last_reason=reason,
            last_duration=duration,
        )

    def dropped_as_stale(self) -> TargetState:
        return replace(self, stale=True, samples=EMPTY, components=())


class SnapshotStore:
    """Copy-on-write map of target states; `on_change` runs after every change, once it is visible."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._states: Mapping[TargetKey, TargetState] = MappingProxyType({})
        self._on_change = on_change

    @property
    def states(self) -> Mapping[TargetKey, TargetState]:
        return self._states

    def put(self, state: TargetState) -> None:
        new = dict(self._states)
        new[state.key] = state
        self._swap(new)

    def remove(self, key: TargetKey) -> None:
        if key in self._states:
            new = dict(self._states)
            del new[key]
            self._swap(new)

    def _swap(self, new: dict[TargetKey, TargetState]) -> None:
        self._states = MappingProxyType(new)
        if self._on_change is not None:
            self._on_change()
