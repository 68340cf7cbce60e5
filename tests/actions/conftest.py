"""A real exporter with the action API enabled, polling real CloudTrax and DLI simulators."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.support.lanes import starts_processes
from tests.support.process import ExporterProcess

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
NETWORK = 12345
STRIP = 1  # the seed document's strip with six ports
ADMIN = "admin-token-9f8e7d6c5b4a"
NARROW = "narrow-token-0a1b2c3d"
EXPIRED = "expired-token-from-file"
DLI_PASSWORD = "dli-pass-7q2w"


@dataclass
class Rig:
    exporter: ExporterProcess
    cloudtrax: CloudTraxSimulator
    dli: DliSimulator


def exporter_config(ct: CloudTraxSimulator, dli: DliSimulator, tmp_path: Path) -> str:
    (tmp_path / "expired-token").write_text(EXPIRED + "\n")
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "10m", "backoff_max": "2s", "jitter": 0.0},
            "targets": [
                {
                    "source": "cloudtrax",
                    "name": "acct",
                    "key": KEY,
                    "secret": SECRET,
                    "base_url": ct.url,
                    "networks": [NETWORK],
                },
                {
                    "source": "dli",
                    "name": "pro",
                    "url": dli.url,
                    "username": DEFAULT_USERNAME,
                    "password": DLI_PASSWORD,
                },
            ],
            "actions": {
                "cooldown": "1h",
                "timeout": "1s",
                "auth_failures": {"max_failures": 10000, "window": "1m"},  # schemathesis sends many bad tokens
                "refusal_log": {"lines_per_client": 10000, "window": "1m"},  # the tests read every audit line
                "tokens": [
                    {
                        "name": "admin",
                        "token_sha256": hashlib.sha256(ADMIN.encode()).hexdigest(),
                        "allow": [{"actions": ["*"], "targets": ["*"]}],
                    },
                    {
                        "name": "narrow",
                        "token": NARROW,
                        "allow": [{"actions": ["dli.outlet_cycle"], "targets": ["pro"]}],
                    },
                    {
                        "name": "expired",
                        "token_file": str(tmp_path / "expired-token"),
                        "expires": "2020-01-01T00:00:00Z",
                        "allow": [{"actions": ["*"], "targets": ["*"]}],
                    },
                ],
            },
        }
    )


@pytest.fixture
@starts_processes
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=2, networks=1) as ct,
        DliSimulator("pro", cycle_delay=0.2, password=DLI_PASSWORD) as dli,
        ExporterProcess(tmp_path, exporter_config(ct, dli, tmp_path)) as exp,
    ):
        await exp.wait_for_sample(
            "cloudtrax_powerstrip_port_info", None, network_id=str(NETWORK), powerstrip_id=str(STRIP), port="6"
        )
        await exp.wait_for_sample("dli_outlet_info", None, device="pro", outlet="7")
        yield Rig(exp, ct, dli)


def ct_calls(rig: Rig) -> dict[str, int]:
    counts = rig.cloudtrax.request_counts()
    return {
        k: v
        for k, v in counts.items()
        if k.endswith("/reboot") or k.endswith("/reset") or "checkin" in k or "pairing" in k
    }


def dli_writes(rig: Rig) -> dict[str, int]:
    return {k: v for k, v in rig.dli.stats.requests.items() if not k.startswith("GET ")}


async def call(rig: Rig, path: str, token: str | None = ADMIN, **headers: str) -> tuple[int, dict[str, Any], Any]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session, session.post(rig.exporter.url + path, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


def body(ok: bool, action: str, target: str | None, detail: str, upstream: int | None = None) -> dict[str, Any]:
    return {"ok": ok, "action": action, "target": target, "detail": detail, "upstream_status": upstream}
