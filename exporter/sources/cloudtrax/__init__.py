"""CloudTrax (Open Mesh / Datto) power strips: signed API client, network target and pure collector."""

from exporter.sources.cloudtrax.source import CloudTraxSource

__all__ = ["CloudTraxSource"]
