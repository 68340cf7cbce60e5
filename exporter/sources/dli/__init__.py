"""Digital Loggers (DLI) source: REST client, device target, pure collector and metrics."""

from exporter.sources.dli.source import DliSource

__all__ = ["DliSource"]
