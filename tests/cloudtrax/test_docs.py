"""docs/sources/cloudtrax.md documents every metric exactly as declared, and every simulator knob."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from exporter.sources.cloudtrax.metrics import ALL_METRICS
from powerstrip_sim.cloudtrax import FAULT_KINDS, SimulatorOptions

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources" / "cloudtrax.md"
ROW = re.compile(
    r"^\| `(?P<name>[a-z_]+)` \| (?P<type>gauge|counter|histogram) \| (?P<labels>[^|]*) \| (?P<meaning>.+) \|$"
)


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match and match["name"].startswith("cloudtrax_"):
            labels = tuple(re.findall(r"`([a-z_]+)`", match["labels"]))
            assert match["name"] not in rows, f"{match['name']} documented twice"
            rows[match["name"]] = (match["type"], labels)
    return rows


def test_every_metric_has_an_exact_row() -> None:
    assert documented() == {spec.name: (spec.type, spec.labels) for spec in ALL_METRICS}


def test_every_fault_and_option_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in FAULT_KINDS:
        assert f"| `{kind}` |" in text, kind
    for field in dataclasses.fields(SimulatorOptions):
        assert f"`{field.name}`" in text, field.name
    for flag in ("--port", "--host", "--strips", "--networks", "--latency", "--key", "--secret", "--seed"):
        assert f"`{flag}`" in text, flag


def test_fields_left_out_are_documented_with_a_reason() -> None:
    """Every vendor field the exporter deliberately does not export is named, with why."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Vendor fields not exported", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| where")]
    for field in (
        "ip",
        "mesh_ip",
        "created",
        "end_of_sale",
        "schedule",
        "connection_checks",
        "enable_connection_check",
        "voltage_v",
        "current_a",
    ):
        row = next((r for r in rows if re.search(rf"[`.]{field}`", r)), None)
        assert row is not None, f"{field} is not listed as left out"
        assert len(row.rstrip(" |").rsplit("|", 1)[1].strip()) > 20, f"{field}: no reason given"
