"""A flood of refused requests costs a bounded log, through the real process, and the log still says how
big the flood was. Allowed actions are logged in full whatever the flood did to the budget.

Refusals of every kind are sent over one connection: authenticated ones (404), unauthenticated ones
(401, then 429 once the failure limiter blocks the client) and refused webhook calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.support.process import ExporterProcess

PASSWORD = "flood-unit-pass-3141"
OPS = "ops-token-flood-27182818"
REFUSAL_EVENTS = (" msg=action ", ' msg="remediation webhook refused" ')
SUMMARY = ' msg="refusals left out of the log" '


def config(dli: DliSimulator, **actions: Any) -> str:
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "10m", "backoff_max": "1s", "jitter": 0.0},
            "targets": [
                {"source": "dli", "name": "pdu", "url": dli.url, "username": DEFAULT_USERNAME, "password": PASSWORD}
            ],
            "actions": {
                "cooldown": "1s",
                "tokens": [{"name": "ops", "token": OPS, "allow": [{"actions": ["*"], "targets": ["*"]}]}],
                **actions,
            },
        }
    )


@pytest.fixture
async def dli() -> AsyncIterator[DliSimulator]:
    async with DliSimulator("pro", password=PASSWORD, cycle_delay=0.1) as sim:
        yield sim


async def started(exporter: ExporterProcess) -> ExporterProcess:
    await exporter.wait_for_sample("dli_outlet_info", None, device="pdu", outlet="1")
    return exporter


def refusal_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if any(e in line for e in REFUSAL_EVENTS) and "decision=allowed" not in line
    ]


async def flood(exporter: ExporterProcess, each: int, headers: dict[str, str] | None = None) -> int:
    """`each` refused requests of three kinds over one connection; returns how many were sent."""
    extra = headers or {}
    kinds: list[tuple[str, dict[str, str]]] = [
        ("/api/v1/dli/no-such-device/reboot", {"Authorization": f"Bearer {OPS}"}),  # 404
        ("/api/v1/dli/pdu/reboot", {}),  # 401, then 429
        ("/api/v1/remediation/alertmanager", {}),  # 403: remediation is not configured
    ]
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for path, auth in kinds:
            for _ in range(each):
                async with session.post(exporter.url + path, headers={**auth, **extra}) as resp:
                    await resp.read()
                    assert resp.status in (401, 403, 404, 429), resp.status
                sent += 1
    return sent


async def test_a_flood_of_refusals_writes_a_bounded_log(tmp_path: Path, dli: DliSimulator) -> None:
    """3,000 refusals from one client, with the shipped defaults (5 lines per client a minute)."""
    async with ExporterProcess(tmp_path, config(dli)) as exp:
        await started(exp)
        start, size = time.monotonic(), exp.stderr_path.stat().st_size
        sent = await flood(exp, 1000)
        minutes = (time.monotonic() - start) / 60
        log = exp.logs()
    windows = int(minutes) + 2  # the flood may straddle a window's end
    lines = refusal_lines(log)
    assert sent == 3000
    assert len(lines) <= 5 * windows, f"{len(lines)} refusal lines for {sent} refusals"
    grown = len(log.encode()) - size
    assert grown < windows * 6 * 1024, f"the log grew by {grown} bytes"


async def test_allowed_actions_are_logged_in_full_after_the_budget_is_spent(tmp_path: Path, dli: DliSimulator) -> None:
    async with ExporterProcess(tmp_path, config(dli, refusal_log={"lines_per_client": 2, "window": "1h"})) as exp:
        await started(exp)
        for _ in range(20):  # authenticated refusals: no failure limiter, only the log's budget
            assert (await exp.post("/api/v1/dli/nope/reboot", headers={"Authorization": f"Bearer {OPS}"}))[0] == 404
        for path in ("outlets/1/cycle", "outlets/3/cycle", "outlets/0/cycle?confirm=critical"):  # outlets that are on
            status, text = await exp.post(f"/api/v1/dli/pdu/{path}", headers={"Authorization": f"Bearer {OPS}"})
            assert status == 200, text
        log = exp.logs()
    assert len(refusal_lines(log)) == 2
    allowed = [line for line in log.splitlines() if " msg=action " in line and "decision=allowed" in line]
    assert len(allowed) == 3 and all("target=pdu" in line for line in allowed), allowed


def counts(log: str, key: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(rf"{SUMMARY}.*\b{key}=(\d+)", log)]


async def test_what_is_left_out_is_counted_per_client_and_window(tmp_path: Path, dli: DliSimulator) -> None:
    """Behind a trusted proxy, one client floods and another is refused once: the other's line is
    logged, and every refusal of the flooder is either a line or part of a count."""
    text = config(dli, refusal_log={"lines_per_client": 3, "window": "2s"}, trusted_proxies=["127.0.0.1/32"])
    async with ExporterProcess(tmp_path, text) as exp:
        await started(exp)
        sent = await flood(exp, 100, {"X-Forwarded-For": "203.0.113.5"})
        assert (await exp.post("/api/v1/dli/pdu/reboot", headers={"X-Forwarded-For": "198.51.100.7"}))[0] == 401

        async def all_accounted() -> bool:
            log = exp.logs()
            flooder = [line for line in refusal_lines(log) if "client=203.0.113.5" in line]
            return len(flooder) + sum(counts(log, "left_out")) == sent

        await exp.wait_for(all_accounted, timeout=30, what="every refusal logged or counted")
        log = exp.logs()
    summaries = [line for line in log.splitlines() if SUMMARY in line]
    assert summaries and all("client=203.0.113.5" in line for line in summaries), summaries
    assert all(n == 3 for n in counts(log, "logged")), "a window leaves lines out only once its budget is spent"
    assert any("client=198.51.100.7" in line for line in refusal_lines(log)), "another client keeps its own budget"
