"""docs/metrics.md and docs/sources/*.md document exactly the metrics the code declares."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.metrics.selfmetrics import self_specs
from exporter.metrics.spec import MetricSpec
from exporter.sources.registry import load_sources

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(gauge|counter|histogram)\s*\|([^|]*)\|")


def declared() -> dict[str, MetricSpec]:
    specs = list(self_specs())
    for source in load_sources().values():
        specs.extend(source.metrics)
    by_name: dict[str, MetricSpec] = {}
    for spec in specs:
        assert spec.name not in by_name, f"{spec.name} declared twice"
        by_name[spec.name] = spec
    return by_name


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for page in [DOCS / "metrics.md", *sorted((DOCS / "sources").glob("*.md"))]:
        for line in page.read_text().splitlines():
            match = ROW.match(line)
            if match:
                name, kind, labels = match.groups()
                assert name not in rows, f"{name} documented twice"
                rows[name] = (kind, tuple(re.findall(r"`([a-z_][a-z0-9_]*)`", labels)))
    return rows


def test_every_declared_metric_is_documented_with_type_and_labels() -> None:
    docs = documented()
    for name, spec in declared().items():
        assert name in docs, f"{name} is not documented in docs/"
        assert docs[name] == (spec.type, spec.labels), f"{name}: docs say {docs[name]}, code says {spec}"


def test_every_documented_metric_exists() -> None:
    code = declared()
    extra = sorted(set(documented()) - set(code))
    assert not extra, f"documented but not in code: {extra}"
