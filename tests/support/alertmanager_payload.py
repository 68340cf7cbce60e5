"""Alertmanager's webhook body (version 4), as Alertmanager posts it, for tests of the remediation webhook."""

from __future__ import annotations

import datetime as dt
import time
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


def alert(status: str = "firing", *, fp: str = "a1", ago: float = 3600.0, **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager posts it, firing since `ago` seconds (`startsAt` with nanoseconds, as Go writes it)."""
    starts = dt.datetime.fromtimestamp(round(time.time() - ago), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    return {
        "status": status,
        "labels": {"alertname": "PortDown", **labels},
        "annotations": {},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fp,
    }
