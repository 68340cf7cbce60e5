"""Alertmanager-driven remediation: alerts that match a rule run an action, inside guard rails."""
