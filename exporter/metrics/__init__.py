"""Metric declarations, immutable sample sets, self-metrics and exposition."""
