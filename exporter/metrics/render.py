"""Text exposition of snapshot samples, rendered once per poll instead of once per scrape.

Sample lines are identical in the Prometheus text format and in OpenMetrics for
gauges and counters; only the HELP/TYPE headers differ. So a snapshot carries
its sample lines pre-rendered, and a scrape joins cached bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.utils import floatToGoString

from exporter.metrics.spec import FamilySamples, MetricSpec

RenderedFamily = tuple[MetricSpec, bytes]

_format_value: Callable[[float], str] = floatToGoString
"""prometheus_client's float formatting (+Inf, NaN, 1e+06), so our lines match its own."""


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render_samples(fam: FamilySamples) -> bytes:
    spec = fam.spec
    names = spec.labels
    lines = []
    for values, value in fam.samples:
        if names:
            labels = ",".join(f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True))
            lines.append(f"{spec.name}{{{labels}}} {_format_value(value)}\n")
        else:
            lines.append(f"{spec.name} {_format_value(value)}\n")
    return "".join(lines).encode()


def render_families(families: Iterable[FamilySamples]) -> tuple[RenderedFamily, ...]:
    return tuple((fam.spec, render_samples(fam)) for fam in families)


def header(spec: MetricSpec, openmetrics: bool) -> bytes:
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        name = spec.name.removesuffix("_total")
        help_text = help_text.replace('"', r"\"")
    else:
        name = spec.name
    return f"# HELP {name} {help_text}\n# TYPE {name} {spec.type}\n".encode()
