"""powerstrip-exporter: Prometheus exporter for smart power strips."""

__version__ = "0.1.0"
