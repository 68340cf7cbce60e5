"""Declared metric families and the immutable sample sets a poll produces.

Every metric the exporter can emit is declared once as a `MetricSpec`. The
declarations drive rendering, pre-initialisation and the docs check, so a
metric cannot exist in code without being documented.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Literal, cast

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
        return sum(len(f.values) for f in self.families)

    def get(self, name: str) -> tuple[Sample, ...]:
        """Samples of one family by name; handy in tests and actions."""
        for fam in self.families:
            if fam.spec.name == name:
                return fam.samples
        return ()


EMPTY = SampleSet()


class Column:
    """One family's samples while a collector adds them: label tuples and values in two lists, no object
    per sample (a poll adds tens of thousands; each would be one more for the garbage collector to walk)."""

    __slots__ = ("labels", "refused", "spec", "values")

    def __init__(self, spec: MetricSpec, refused: list[Refusal] | None = None) -> None:
        self.spec = spec
        self.labels: list[tuple[str, ...]] = []
        self.values: list[float | bool | None] = []
        self.refused: list[Refusal] = [] if refused is None else refused
        """Where `add_within` puts what it refuses (the builder's list)."""

    def add(self, labels: tuple[str, ...], value: float | bool | None) -> None:
        """One sample: label values as strings in the spec's order (checked when the set is built), and a
        value that may be unknown (None: no sample)."""
        self.labels.append(labels)
        self.values.append(value)

    def add_within(
        self,
        labels: tuple[str, ...],
        value: float | None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        """A reading with a physical range. Outside it the device reported something it cannot have
        (a negative energy counter, a temperature below absolute zero): the sample is refused as
        `implausible_value` instead of exported."""
        if value is not None and (
            (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
        ):
            self.refused.append(Refusal(self.spec, labels, float(value), "implausible_value"))
            return
        self.labels.append(labels)
        self.values.append(value)

    def family(self) -> FamilySamples | None:
        """The known samples (no None, no NaN), or None when there is none."""
        labels, values = self.labels, self.values
        column: array[float] | None
        try:
            column = array("d", cast(list[float], values))
        except TypeError:  # an unknown (None) among them
            column = None
        if column is None or math.isnan(sum(column)):  # a NaN (or +inf beside -inf): look at each
            keep = [i for i, v in enumerate(values) if v is not None and v == v]
            column = array("d", [cast(float, values[i]) for i in keep])
            labels = [labels[i] for i in keep]
        if not column:
            return None
        if set(map(len, labels)) != {len(self.spec.labels)}:
            raise ValueError(f"{self.spec.name}: expected labels {self.spec.labels}")
        return FamilySamples(self.spec, _redacted(tuple(labels)), column)


@dataclass
class SampleSetBuilder:
    """Collects samples while a collector walks API data.

    `None` values are skipped, so optional vendor fields ("only when known")
    need no special casing, and NaN is never exported.
    """

    _data: dict[str, Column] = field(default_factory=dict)
    """By metric name (a str hashes once; a MetricSpec would hash all its fields on every add)."""
    _refused: list[Refusal] = field(default_factory=list)

    def column(self, spec: MetricSpec) -> Column:
        """`spec`'s samples, for a collector that adds many (`column(spec).add(labels, value)`)."""
        column = self._data.get(spec.name)
        if column is None:
            column = self._data[spec.name] = Column(spec, self._refused)
        return column

    def add(self, spec: MetricSpec, value: float | bool | None, *labels: str | int) -> None:
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {labels}")
        self.column(spec).add(tuple(map(str, labels)), value)

    def add_within(
        self,
        spec: MetricSpec,
        value: float | None,
        *labels: str,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> None:
        """`Column.add_within` for one sample."""
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {labels}")
        self.column(spec).add_within(tuple(map(str, labels)), value, minimum=minimum, maximum=maximum)

    def extend(self, other: SampleSet | Iterable[FamilySamples]) -> None:
        families = other.families if isinstance(other, SampleSet) else other
        if isinstance(other, SampleSet):
            self._refused.extend(other.refused)
        for fam in families:
            column = self.column(fam.spec)
            column.labels.extend(fam.labels)
            column.values.extend(fam.values)

    def build(self) -> SampleSet:
        """The immutable set; label values (free text from upstream: names, hostnames) are redacted
        like any upstream text, so a unit that puts a secret into an outlet name does not export it."""
        families = tuple(family for column in self._data.values() if (family := column.family()) is not None)
        return SampleSet(families, tuple(self._refused))


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
