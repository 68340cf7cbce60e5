"""The per-target series limit, through the real exporter process.

A small fake DLI upstream on loopback answers as many outlets as the test asks for (each outlet
is six series). Going over `sample_limit` must fail the poll with its own reason, keep serving
the target's previous snapshot, keep `/metrics` small, and leave a healthy target beside it alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from exporter.sources.api import DEFAULT_SAMPLE_LIMIT
from powerstrip_sim.dli import DliSimulator
from tests.support.process import ExporterProcess, Samples, find, value

ROOT = Path(__file__).resolve().parents[2]
UP = "powerstrip_exporter_target_up"
FAILURES = "powerstrip_exporter_target_poll_failures_total"
POLLS = "powerstrip_exporter_target_polls_total"
SERIES_PER_OUTLET = 6
BOMB_OUTLETS = DEFAULT_SAMPLE_LIMIT // SERIES_PER_OUTLET + 500
"""Over the default limit in series, yet under the default item cap (10,000) in outlets."""


def _outlets(count: int) -> bytes:
    outlet = {
        "state": True,
        "transient_state": True,
        "physical_state": True,
        "locked": False,
        "critical": False,
        "cycle_delay": 1,
    }
    return json.dumps([{"name": f"o{i}", **outlet} for i in range(count)]).encode()


@dataclass
class FakeDli:
    """Answers every unit `/<unit>/restapi/...` with `outlets[unit]` outlets and nothing else."""

    outlets: dict[str, int] = field(default_factory=dict)
    _bodies: dict[int, bytes] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if path == "relay/outlets/":
            count = self.outlets[request.match_info["unit"]]
            body = self._bodies.setdefault(count, _outlets(count))
            return web.Response(body=body, content_type="application/json")
        if path in ("meter/values/", "script/threads/"):
            return web.json_response({})
        return web.json_response("fake")  # identity fields


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[tuple[ExporterProcess, FakeDli]]:
    fake = FakeDli(outlets={"grower": 4, "bomb": BOMB_OUTLETS})
    app = web.Application()
    app.router.add_get("/{unit}/restapi/{path:.*}", fake.handle)
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(TestServer(app, host="127.0.0.1"))
        healthy = await stack.enter_async_context(DliSimulator("pro", password="healthy-pw"))
        base = str(server.make_url("")).rstrip("/")

        def unit(name: str, **extra: object) -> dict[str, object]:
            return {"source": "dli", "name": name, "url": f"{base}/{name}", "username": "u", "password": "p", **extra}

        config = {
            "global": {"interval": "1s", "timeout": "1s", "backoff_max": "1s", "jitter": 0, "stale_after": "1h"},
            "targets": [
                unit("grower", sample_limit=200),
                unit("bomb", interval="2s", timeout="2s"),  # the default sample_limit
                {"source": "dli", "name": "healthy", "url": healthy.url, "username": "admin", "password": "healthy-pw"},
            ],
        }
        exp = await stack.enter_async_context(
            ExporterProcess(tmp_path, yaml.safe_dump(config), env={"PYTHONPATH": str(ROOT)})
        )
        yield exp, fake


async def _at_least(exp: ExporterProcess, name: str, minimum: float, **labels: str) -> Samples:
    """The first scrape in which `name{labels}` has reached `minimum`."""
    latest: Samples = {}

    async def reached() -> bool:
        nonlocal latest
        latest = await exp.metrics()
        return (value(latest, name, **labels) or 0.0) >= minimum

    await exp.wait_for(reached, timeout=30, what=f"{name}{labels} >= {minimum}")
    return latest


def _outlet_indexes(m: Samples, device: str) -> set[str]:
    return {labels["outlet"] for labels, _ in find(m, "dli_outlet_state", device=device)}


async def test_going_over_sample_limit_fails_the_poll_and_keeps_the_last_snapshot(
    fleet: tuple[ExporterProcess, FakeDli],
) -> None:
    exp, fake = fleet
    m = await exp.wait_for_sample(UP, 1, source="dli", target="grower", timeout=30)
    assert _outlet_indexes(m, "grower") == {"0", "1", "2", "3"}

    # The default limit: a unit claiming 8,833 outlets never reaches /metrics.
    m = await _at_least(exp, FAILURES, 1, source="dli", target="bomb", reason="sample_limit")
    assert value(m, UP, source="dli", target="bomb") == 0
    assert not find(m, "dli_outlet_state", device="bomb")
    assert value(m, FAILURES, source="dli", target="bomb", reason="bad_response") == 0

    # A per-target limit: the grower goes over it and keeps serving its last good snapshot.
    fake.outlets["grower"] = 100  # 600 series, over its sample_limit of 200
    m = await _at_least(exp, FAILURES, 2, source="dli", target="grower", reason="sample_limit")
    assert value(m, UP, source="dli", target="grower") == 0
    assert _outlet_indexes(m, "grower") == {"0", "1", "2", "3"}

    healthy_polls = value(m, POLLS, source="dli", target="healthy") or 0.0
    m = await _at_least(exp, POLLS, healthy_polls + 2, source="dli", target="healthy")
    assert value(m, UP, source="dli", target="healthy") == 1
    text = await exp.metrics_text()
    assert len(text) < 512 * 1024, f"/metrics is {len(text)} bytes"

    logs = exp.logs()
    assert f"over the sample_limit of {DEFAULT_SAMPLE_LIMIT}" in logs
    assert "over the sample_limit of 200" in logs
    assert "Traceback" not in logs

    # Back under the limit, the grower recovers with its new outlets.
    fake.outlets["grower"] = 6
    m = await exp.wait_for_sample(UP, 1, source="dli", target="grower", timeout=30)
    assert _outlet_indexes(m, "grower") == {str(i) for i in range(6)}
