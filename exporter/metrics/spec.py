"""Declared metric families and the immutable sample sets a poll produces.

Every metric the exporter can emit is declared once as a `MetricSpec`. The
declarations drive rendering, pre-initialisation and the docs check, so a
metric cannot exist in code without being documented.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Literal

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
    """One family's samples as two columns: each sample's label values, and the values as an array of
    doubles. A snapshot holds no object per sample, only the label tuples (which a strip's or port's
    families share) and eight bytes per value."""

    spec: MetricSpec
    labels: tuple[tuple[str, ...], ...]
    values: array[float]

    @property
    def samples(self) -> tuple[Sample, ...]:
        return tuple(zip(self.labels, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class SampleSet:
    """Everything one poll of one target produced. Never mutated after build()."""

    families: tuple[FamilySamples, ...] = ()

    def __len__(self) -> int:
        return sum(len(f.values) for f in self.families)

    def get(self, name: str) -> tuple[Sample, ...]:
        """Samples of one family by name; handy in tests and actions."""
        for fam in self.families:
            if fam.spec.name == name:
                return fam.samples
        return ()


EMPTY = SampleSet()


Row = tuple[tuple[str, ...], float | bool | None]
"""A sample as a collector hands it over: label values, and a value that may be unknown (None)."""


@dataclass
class SampleSetBuilder:
    """Collects samples while a collector walks API data.

    `None` values are skipped, so optional vendor fields ("only when known")
    need no special casing, and NaN is never exported.
    """

    _data: dict[str, tuple[MetricSpec, list[Row]]] = field(default_factory=dict)
    """By metric name (a str hashes once; a MetricSpec would hash all its fields on every add)."""

    def rows(self, spec: MetricSpec) -> Callable[[Row], None]:
        """An appender of `spec`'s samples, for a collector that adds many: `append((labels, value))`,
        where labels are strings in the spec's order. Checked once per family, when the set is built."""
        entry = self._data.get(spec.name)
        if entry is None:
            entry = self._data[spec.name] = (spec, [])
        return entry[1].append

    def add(self, spec: MetricSpec, value: float | bool | None, *labels: str | int) -> None:
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {labels}")
        self.rows(spec)((tuple(map(str, labels)), value))

    def extend(self, other: SampleSet | Iterable[FamilySamples]) -> None:
        families = other.families if isinstance(other, SampleSet) else other
        for fam in families:
            entry = self._data.get(fam.spec.name)
            if entry is None:
                entry = self._data[fam.spec.name] = (fam.spec, [])
            entry[1].extend(zip(fam.labels, fam.values, strict=True))

    def build(self) -> SampleSet:
        """The immutable set; label values (free text from upstream: names, hostnames) are redacted
        like any upstream text, so a unit that puts a secret into an outlet name does not export it."""
        families = []
        for spec, rows in self._data.values():
            kept = [row for row in rows if row[1] is not None and row[1] == row[1]]  # no unknowns, no NaN
            if not kept:
                continue
            labels, values = zip(*kept, strict=True)
            width = len(spec.labels)
            if any(len(each) != width for each in labels):
                raise ValueError(f"{spec.name}: expected labels {spec.labels}")
            families.append(FamilySamples(spec, _redacted(labels), array("d", values)))
        return SampleSet(tuple(families))


def _redacted(labels: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
    """Label values redacted; the tuples rebuilt only in the rare family where one changes."""
    if not SECRETS.active:
        return labels
    label = SECRETS.redact_label
    values = set(chain.from_iterable(labels))
    changed = {value: out for value in values if (out := label(value)) != value}
    if not changed:
        return labels
    return tuple(tuple(changed.get(v, v) for v in each) for each in labels)
