"""Every vendor has the same shape (docs/architecture.md, "One vendor, one shape"), and a third one
cannot slip out of it: it is under the import contracts, refuses another vendor's entry the same way,
keeps its endpoint table in `endpoints.py`, and its targets hand actions their client as `client`.

`lint-imports` checks only the modules a contract names, so a new folder under `exporter/sources/`
missing from the independence or the "core knows no vendor" contract would pass unchecked.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import tomllib
from pathlib import Path
from typing import Any

import pytest

from exporter.config.types import TargetEntry
from exporter.sources.api import PollSettings, Source, SourceContext
from exporter.sources.registry import SOURCES, load_sources

ROOT = Path(__file__).resolve().parents[2]
INDEPENDENCE = "Vendors are independent of each other"
NO_VENDOR_IN_CORE = "The core knows no vendor"


def vendor_packages(sources_dir: Path) -> set[str]:
    """The vendor packages: every package directly under exporter/sources/."""
    return {f"exporter.sources.{d.name}" for d in sources_dir.iterdir() if (d / "__init__.py").is_file()}


def contract_gaps(vendors: set[str], pyproject: dict[str, Any], registry: dict[str, str]) -> list[str]:
    """What the import contracts and the source registry miss or name wrongly, one line each."""
    contracts = {c["name"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}
    named = {
        f"'{INDEPENDENCE}' modules": set(contracts[INDEPENDENCE]["modules"]),
        f"'{NO_VENDOR_IN_CORE}' forbidden_modules": set(contracts[NO_VENDOR_IN_CORE]["forbidden_modules"]),
        "sources/registry.py SOURCES": {ref.partition(":")[0] for ref in registry.values()},
    }
    gaps = []
    for where, modules in named.items():
        gaps += [f"{vendor} is missing from {where}" for vendor in sorted(vendors - modules)]
        gaps += [
            f"{where} names {module}, which is no package under exporter/sources/"
            for module in sorted(modules - vendors)
        ]
    return gaps


def test_every_vendor_package_is_in_both_vendor_contracts_and_the_registry() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    vendors = vendor_packages(ROOT / "exporter" / "sources")
    assert {"exporter.sources.cloudtrax", "exporter.sources.dli"} <= vendors
    assert contract_gaps(vendors, pyproject, SOURCES) == []


def test_a_third_vendor_left_out_of_the_contracts_is_named(tmp_path: Path) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    sources = tmp_path / "sources"
    for package in ("cloudtrax", "dli", "acme"):
        (sources / package).mkdir(parents=True)
        (sources / package / "__init__.py").write_text("")
    (sources / "registry.py").write_text("")  # shared modules are no vendor
    registry = {**SOURCES, "acme": "exporter.sources.acme:AcmeSource"}
    assert contract_gaps(vendor_packages(sources), pyproject, registry) == [
        f"exporter.sources.acme is missing from '{INDEPENDENCE}' modules",
        f"exporter.sources.acme is missing from '{NO_VENDOR_IN_CORE}' forbidden_modules",
    ]


# One minimal entry per vendor (a new vendor adds one: the tests below check every registered source).
ENTRIES: dict[str, dict[str, Any]] = {
    "cloudtrax": {"key": "k" * 16, "secret": "s" * 16, "networks": [1]},
    "dli": {"url": "http://127.0.0.1:9", "username": "admin", "password": "pw"},
}
SETTINGS = PollSettings(interval=60.0, timeout=5.0, stale_after=300.0)


def entry(source: type[Source]) -> TargetEntry:
    return source.entry_model.model_validate({"source": source.name, "name": "one", **ENTRIES[source.name]})


def test_every_source_has_an_entry_here() -> None:
    assert set(ENTRIES) == set(load_sources())


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_source_refuses_another_vendors_entry_with_a_type_error(name: str) -> None:
    sources = load_sources()
    source = sources[name]
    for other in (s for s in sources.values() if s is not source):
        with pytest.raises(
            TypeError, match=f"expected a {source.entry_model.__name__}, got {type(entry(other)).__name__}"
        ):
            source.build_group(entry(other), SETTINGS, SourceContext(name, 4))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_vendor_keeps_its_endpoint_table_in_endpoints_py(name: str) -> None:
    """One home: `endpoints.ALL_ENDPOINTS` is what the source declares, and no other module spells a template."""
    source = load_sources()[name]
    package = importlib.import_module(SOURCES[name].partition(":")[0])
    templates = set(importlib.import_module(f"{package.__name__}.endpoints").ALL_ENDPOINTS)
    assert set(source.api_endpoints) == templates
    elsewhere = {
        f"{path.name}: {node.value}"
        for path in Path(str(package.__file__)).parent.glob("*.py")
        if path.name != "endpoints.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in templates
    }
    assert not elsewhere, f"endpoint templates spelled outside endpoints.py: {sorted(elsewhere)}"


@pytest.mark.parametrize("name", sorted(SOURCES))
async def test_a_target_hands_actions_its_client_as_an_attribute(name: str) -> None:
    source = load_sources()[name]
    group = source.build_group(entry(source), SETTINGS, SourceContext(name, 4))
    try:
        [target] = await group.discover()  # a static entry: no I/O
        client = target.client  # type: ignore[attr-defined]
        assert not inspect.ismethod(client) and callable(client.aclose), f"{name}: target.client is {client!r}"
    finally:
        await group.aclose()
