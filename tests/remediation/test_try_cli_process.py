"""`powerstrip-exporter remediation try` as a user runs it: what each rule would decide and why, calling nothing.

The config's device points at a listening socket that counts connections: it must see none, and the
command must write no file anywhere under its working directory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

TOKEN = "3b8f0d6a91c4e27f5a0b6c1d"


@pytest.fixture
def listener() -> Iterator[tuple[int, list[int]]]:
    """A loopback port that accepts and counts connections, as a device that must not be called."""
    accepted: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    server.close()


def write_config(tmp_path: Path, port: int) -> Path:
    rule = {
        "matchers": ['alertname="HostProbeFailing"', 'pdu=~".+"'],
        "action": "dli.outlet_cycle",
        "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
        "min_firing": "5m",
    }
    config = {
        "targets": [
            {
                "source": "dli",
                "name": "rack1-pdu",
                "url": f"http://127.0.0.1:{port}",
                "username": "admin",
                "password": "pw-7Hq2",
            },
        ],
        "actions": {
            "tokens": [
                {
                    "name": "alertmanager",
                    "token": TOKEN,
                    "allow": [{"actions": ["dli.outlet_cycle"], "targets": ["rack1-pdu"]}],
                }
            ]
        },
        "remediation": {
            "token": "alertmanager",
            "rules": [
                {"name": "cycle-host", **rule, "dry_run": False},
                {"name": "cycle-host-dry", **rule},
                {
                    "name": "reboot-pdu",
                    "matchers": ['alertname="PduDown"'],
                    "action": "dli.reboot",
                    "params": {"device": "{{ .Labels.pdu }}"},
                },
            ],
        },
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def alert(fp: str, ago: float, status: str = "firing", **labels: str) -> dict[str, Any]:
    starts = dt.datetime.fromtimestamp(time.time() - ago, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"status": status, "labels": labels, "startsAt": starts, "fingerprint": fp}


def payload(*alerts: dict[str, Any], truncated: int = 0) -> bytes:
    body = {"version": "4", "status": "firing", "receiver": "r", "truncatedAlerts": truncated, "alerts": list(alerts)}
    return json.dumps(body).encode()


def run(tmp_path: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "remediation", "try", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def test_each_rule_says_what_it_would_decide_and_why_without_calling_anything(
    tmp_path: Path, listener: tuple[int, list[int]]
) -> None:
    port, accepted = listener
    config = write_config(tmp_path, port)
    alerts = payload(
        alert("a1", 600, alertname="HostProbeFailing", pdu="rack1-pdu", outlet="3"),
        alert("b2", 30, alertname="HostProbeFailing", pdu="rack1-pdu", outlet="4"),
        alert("c3", 600, alertname="HostProbeFailing", pdu="other-pdu", outlet="1"),
        alert("d4", 600, alertname="HostProbeFailing", pdu="rack1-pdu"),
        alert("e5", 600, alertname="DiskFull"),
        alert("f6", 600, status="resolved", alertname="HostProbeFailing", pdu="rack1-pdu", outlet="3"),
        truncated=2,
    )
    (tmp_path / "payload.json").write_bytes(alerts)
    before = files(tmp_path)
    result = run(tmp_path, "--config.file", str(config), "--output", "json", "payload.json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    decided = {a["fingerprint"]: (a["decision"], a["decided_by"]) for a in report["alerts"]}
    assert decided == {
        "a1": ("acted", "cycle-host"),
        "b2": ("too_early", "cycle-host"),
        "c3": ("refused", "cycle-host"),  # the token may not touch other-pdu
        "d4": ("invalid", "cycle-host"),  # no outlet label: the template yields no target
        "e5": ("no_rule", None),
        "f6": ("resolved", None),
    }
    a1 = report["alerts"][0]["rules"]
    assert [(v["rule"], v["result"]) for v in a1] == [
        ("cycle-host", "acted"),
        ("cycle-host-dry", "shadowed"),
        ("reboot-pdu", "no_match"),
    ]
    assert a1[0]["detail"] == "dli.outlet_cycle device=rack1-pdu outlet=3: would act as token 'alertmanager'"
    assert a1[2]["detail"] == "alertname=\"PduDown\" does not match alertname='HostProbeFailing'"
    assert "cooldown" in report["not_checked"] and "snapshot" in report["not_checked"]

    text = run(tmp_path, "--config.file", str(config), stdin=alerts)  # the payload on stdin, as text
    assert text.returncode == 0, text.stderr
    assert re.search(r"^alert a1 \(HostProbeFailing, firing for 1\dm\d\ds\)$", text.stdout, re.M), text.stdout
    assert "  decision: too_early by rule cycle-host" in text.stdout
    assert "warning: Alertmanager left 2 alert(s) out of this payload (max_alerts)" in text.stdout
    assert "not checked offline:" in text.stdout
    assert accepted == [] and files(tmp_path) == before
    assert "pw-7Hq2" not in result.stdout + result.stderr + text.stdout + text.stderr


def test_a_payload_or_config_it_cannot_use_is_a_clear_error(tmp_path: Path, listener: tuple[int, list[int]]) -> None:
    config = write_config(tmp_path, listener[0])
    result = run(tmp_path, "--config.file", str(config), stdin=b"{not json")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == "-: request body is not valid JSON"
    result = run(tmp_path, "--config.file", str(config), "missing.json")
    assert result.returncode == 1 and "cannot read missing.json" in result.stderr
    result = run(tmp_path, "--config.file", str(tmp_path / "nope.yml"), stdin=payload())
    assert result.returncode == 1 and "cannot read config file" in result.stderr
