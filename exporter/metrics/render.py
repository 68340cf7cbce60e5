"""Text exposition of snapshot samples, rendered once per poll instead of once per scrape.

Sample lines are identical in the Prometheus text format and in OpenMetrics for
gauges and counters; only the HELP/TYPE headers differ. So a snapshot carries
its sample lines pre-rendered, and a scrape joins cached bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from prometheus_client.utils import floatToGoString

from exporter.metrics.spec import FamilySamples, MetricSpec

RenderedFamily = tuple[MetricSpec, bytes]

_go_float: Callable[[float], str] = floatToGoString
"""prometheus_client's float formatting (+Inf, NaN, 1e+06), so our lines match its own."""


_NEG_INF = -math.inf
"""Values in (-inf, 1e6) are written with repr(), which is what floatToGoString returns for them (it
rewrites only large positive numbers into exponent form, and spells out infinities and NaN)."""


def _escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


LabelCache = dict[tuple[str, ...], dict[tuple[str, ...], str]]
"""Rendered `a="x",b="y"` by label names, then by label values."""


def render_samples(fam: FamilySamples, labels_cache: LabelCache | None = None) -> bytes:
    """One family's sample lines. Label sets repeat across families (a port's labels appear in
    every port family), so their rendered form is cached for the families rendered together."""
    spec = fam.spec
    name = spec.name
    names = spec.labels
    go = _go_float
    if not names:
        return "".join([f"{name} {repr(v) if _NEG_INF < v < 1e6 else go(v)}\n" for v in fam.values]).encode()
    cache = (labels_cache if labels_cache is not None else {}).setdefault(names, {})
    esc = _escape_label
    lines: list[str] = []
    append = lines.append
    for values, v in zip(fam.labels, fam.values, strict=True):
        rendered = cache.get(values)
        if rendered is None:
            rendered = cache[values] = ",".join([f'{n}="{esc(x)}"' for n, x in zip(names, values, strict=True)])
        append(f"{name}{{{rendered}}} {repr(v) if _NEG_INF < v < 1e6 else go(v)}\n")
    return "".join(lines).encode()


def render_families(families: Iterable[FamilySamples]) -> tuple[RenderedFamily, ...]:
    cache: LabelCache = {}
    return tuple((fam.spec, render_samples(fam, cache)) for fam in families)


def header(spec: MetricSpec, openmetrics: bool) -> bytes:
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        name = spec.name.removesuffix("_total")
        help_text = help_text.replace('"', r"\"")
    else:
        name = spec.name
    return f"# HELP {name} {help_text}\n# TYPE {name} {spec.type}\n".encode()
