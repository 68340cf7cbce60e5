"""Alertmanager's webhook body (version 4), as Alertmanager posts it, for tests of the remediation webhook."""

from __future__ import annotations

from typing import Any


def payload(*alerts: dict[str, Any], truncated: int = 0) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": truncated,
        "status": "firing",
        "receiver": "remediation",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": list(alerts),
    }
