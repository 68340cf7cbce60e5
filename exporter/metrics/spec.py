"""Declared metric families and the immutable sample sets a poll produces.

Every metric the exporter can emit is declared once as a `MetricSpec`. The
declarations drive rendering, pre-initialisation and the docs check, so a
metric cannot exist in code without being documented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Literal

from exporter.metrics.reasons import ValueRefusalReason
from exporter.redaction import SECRETS

MetricType = Literal["gauge", "counter", "histogram"]

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_LABEL_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family: name, help, type and label names, fixed at import time."""

    name: str
    help: str
    type: MetricType
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"metric name {self.name!r} is not snake_case")
        if (self.type == "counter") != self.name.endswith("_total"):
            raise ValueError(f"metric {self.name!r}: _total is for counters and counters only")
        for label in self.labels:
            if not _LABEL_RE.match(label) or label.startswith("__"):
                raise ValueError(f"metric {self.name!r}: bad label name {label!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"metric {self.name!r}: duplicate label names")


Sample = tuple[tuple[str, ...], float]
"""Label values in the spec's label order, and the value."""


@dataclass(frozen=True, slots=True)
class FamilySamples:
    spec: MetricSpec
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A value a poll read but did not export, and why."""

    spec: MetricSpec
    labels: tuple[str, ...]
    value: float
    reason: ValueRefusalReason

    @property
    def series(self) -> str:
        """The series it would have been, as `name{label="value",...}` (for log lines)."""
        pairs = ",".join(f'{name}="{value}"' for name, value in zip(self.spec.labels, self.labels, strict=True))
        return f"{self.spec.name}{{{pairs}}}"


@dataclass(frozen=True, slots=True)
class SampleSet:
    """Everything one poll of one target produced. Never mutated after build()."""

    families: tuple[FamilySamples, ...] = ()
    refused: tuple[Refusal, ...] = ()
    """Values the poll read but refused to export (the engine counts them by reason)."""

    def __len__(self) -> int:
        return sum(len(f.samples) for f in self.families)

    def get(self, name: str) -> tuple[Sample, ...]:
        """Samples of one family by name; handy in tests and actions."""
        for fam in self.families:
            if fam.spec.name == name:
                return fam.samples
        return ()


EMPTY = SampleSet()


@dataclass
class SampleSetBuilder:
    """Collects samples while a collector walks API data.

    `None` values are skipped, so optional vendor fields ("only when known")
    need no special casing, and NaN is never exported.
    """

    _data: dict[str, tuple[MetricSpec, list[Sample]]] = field(default_factory=dict)
    """By metric name (a str hashes once; a MetricSpec would hash all its fields on every add)."""
    _refused: list[Refusal] = field(default_factory=list)

    def add(self, spec: MetricSpec, value: float | bool | None, *labels: str | int) -> None:
        if value is None:
            return
        fvalue = float(value)
        if fvalue != fvalue:  # NaN
            return
        entry = self._data.get(spec.name)
        if entry is None:
            entry = self._data[spec.name] = (spec, [])
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {labels}")
        try:
            "".join(labels)  # type: ignore[arg-type]  # all str already (the common case): keep the tuple
        except TypeError:
            labels = tuple(map(str, labels))
        entry[1].append((labels, fvalue))  # type: ignore[arg-type]

    def add_within(
        self,
        spec: MetricSpec,
        value: float | None,
        *labels: str,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        """A reading with a physical range. Outside it the device reported something it cannot have
        (a negative energy counter, a temperature below absolute zero): the sample is refused as
        `implausible_value` instead of exported."""
        if value is not None and (
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        ):
            self._refused.append(Refusal(spec, labels, float(value), "implausible_value"))
            return
        self.add(spec, value, *labels)

    def extend(self, other: SampleSet | Iterable[FamilySamples]) -> None:
        families = other.families if isinstance(other, SampleSet) else other
        if isinstance(other, SampleSet):
            self._refused.extend(other.refused)
        for fam in families:
            entry = self._data.get(fam.spec.name)
            if entry is None:
                entry = self._data[fam.spec.name] = (fam.spec, [])
            entry[1].extend(fam.samples)

    def build(self) -> SampleSet:
        """The immutable set; label values (free text from upstream: names, hostnames) are redacted
        like any upstream text, so a unit that puts a secret into an outlet name does not export it."""
        families = tuple(FamilySamples(spec, _redacted(s)) for spec, s in self._data.values() if s)
        return SampleSet(families, tuple(self._refused))


def _redacted(samples: list[Sample]) -> tuple[Sample, ...]:
    """Samples with every label value redacted; rebuilt only in the rare set where one changes."""
    if not SECRETS.active:
        return tuple(samples)
    label = SECRETS.redact_label
    values = set(chain.from_iterable(map(itemgetter(0), samples)))
    changed = {value: out for value in values if (out := label(value)) != value}
    if not changed:
        return tuple(samples)
    return tuple((tuple(changed.get(v, v) for v in labels), x) for labels, x in samples)
