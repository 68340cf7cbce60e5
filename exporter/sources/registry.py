"""The one place that names the vendor packages.

A new vendor is a new folder under `exporter/sources/` and one line here.
"""

from __future__ import annotations

import importlib

from exporter.sources.api import Source

SOURCES: dict[str, str] = {
    "cloudtrax": "exporter.sources.cloudtrax:CloudTraxSource",
    "dli": "exporter.sources.dli:DliSource",
}


def load_sources() -> dict[str, type[Source]]:
    found: dict[str, type[Source]] = {}
    for name, ref in SOURCES.items():
        module_name, _, attr = ref.partition(":")
        found[name] = getattr(importlib.import_module(module_name), attr)
    return found
