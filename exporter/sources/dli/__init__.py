"""Digital Loggers (DLI) source: REST client, collector, metrics and a device simulator."""

from exporter.sources.dli.source import DliSource

__all__ = ["DliSource"]
