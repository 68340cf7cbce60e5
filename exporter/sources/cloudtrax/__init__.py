"""CloudTrax (Open Mesh / Datto) power strips: signed API client, collector and simulator."""

from exporter.sources.cloudtrax.source import CloudTraxSource

__all__ = ["CloudTraxSource"]
