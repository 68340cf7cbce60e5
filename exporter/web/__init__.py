"""The HTTP surface: metrics, health, readiness, landing page, config, reload."""
