"""Malformed and hostile upstream answers cost only their own target, through the real exporter process.

A small fake upstream on loopback answers, per path prefix, as one CloudTrax account or one DLI
unit would, except that every answer is broken in one particular way. A healthy DLI simulator
target runs beside them. The exporter must fail each broken target with the right reason, keep
polling the healthy one and answering `/metrics`, stay within a bounded memory, and log one line
per state change instead of a traceback on every poll.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from powerstrip_sim.dli import DliSimulator
from tests.support.process import ExporterProcess, Samples, value

ROOT = Path(__file__).resolve().parents[2]
PEAK_RSS_LIMIT_KB = 300 * 1024
UP = "powerstrip_exporter_target_up"
FAILURES = "powerstrip_exporter_target_poll_failures_total"
POLLS = "powerstrip_exporter_target_polls_total"
DISCOVERY_FAILURES = "powerstrip_exporter_discovery_failures_total"
DISCOVERING_GROUP = "acct-all"

JUNK_ITEMS = 500_000
JUNK_LIST = b'{"powerstrips":[' + b",".join([b'"x"'] * JUNK_ITEMS) + b"]}"
"""A 2 MB strip list of 500,000 wrongly typed items."""
JUNK_NETWORKS = JUNK_LIST.replace(b"powerstrips", b"networks")
HUGE_INT = "1" + "0" * 400
DEEP = b"[" * 100_000 + b"]" * 100_000
OUTLET: dict[str, object] = {
    "name": "a",
    "state": True,
    "transient_state": True,
    "physical_state": True,
    "locked": False,
    "critical": False,
    "cycle_delay": 1,
}

BIG_OUTLETS = json.dumps([OUTLET]).replace('"cycle_delay": 1', f'"cycle_delay": {HUGE_INT}').encode()


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _rate_limited() -> web.Response:
    # "²" passes str.isdigit() and is no HTTP delta-seconds
    return web.Response(status=429, headers={"Retry-After": "²"}, text="slow down")


HOSTILE: dict[str, Callable[[], web.Response]] = {
    "junk": lambda: _json(JUNK_LIST),
    "junk-networks": lambda: _json(JUNK_NETWORKS),
    "bignum-ct": lambda: _json(f'{{"powerstrips":[{{"powerstrip_id":1,"voltage_v":{HUGE_INT}}}]}}'.encode()),
    "bignum-dli": lambda: _json(BIG_OUTLETS),
    "deep": lambda: _json(DEEP),
    "retry": _rate_limited,
}


async def _answer(request: web.Request) -> web.Response:
    """`/<scenario>/...`: the scenario's broken answer, whatever the path below it."""
    return HOSTILE[request.match_info["scenario"]]()


@dataclass(frozen=True)
class Case:
    source: str
    target: str
    scenario: str
    reason: str
    extra: tuple[tuple[str, object], ...] = ()


CASES = (
    Case("cloudtrax", "11", "junk", "bad_response"),
    # No item cap to speak of: the model's validation itself must stop at the first bad item.
    Case("cloudtrax", "12", "junk", "bad_response", (("max_items_per_answer", 1_000_000),)),
    Case("cloudtrax", "13", "bignum-ct", "bad_response"),
    Case("cloudtrax", "14", "deep", "bad_response"),
    Case("cloudtrax", "15", "retry", "rate_limited"),
    Case("dli", "dli-bignum", "bignum-dli", "bad_response"),
    Case("dli", "dli-deep", "deep", "bad_response"),
    Case("dli", "dli-retry", "retry", "rate_limited"),
)


def _entry(case: Case, base: str) -> dict[str, object]:
    url = f"{base}/{case.scenario}"
    if case.source == "cloudtrax":
        entry: dict[str, object] = {
            "source": "cloudtrax",
            "name": f"acct-{case.target}",
            "key": "k" * 64,
            "secret": "s" * 64,
            "base_url": url,
            "networks": [int(case.target)],
        }
    else:
        entry = {"source": "dli", "name": case.target, "url": url, "username": "admin", "password": "pw"}
    entry.update(dict(case.extra))
    return entry


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[tuple[ExporterProcess, DliSimulator]]:
    app = web.Application()
    app.router.add_route("*", "/{scenario}/{tail:.*}", _answer)
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(TestServer(app, host="127.0.0.1"))
        healthy = await stack.enter_async_context(DliSimulator("pro", password="healthy-pw"))
        base = str(fake.make_url("")).rstrip("/")
        config = {
            "global": {"interval": "2s", "timeout": "2s", "backoff_max": "2s", "jitter": 0},
            "targets": [
                *(_entry(case, base) for case in CASES),
                {
                    "source": "cloudtrax",
                    "name": DISCOVERING_GROUP,
                    "key": "k" * 64,
                    "secret": "s" * 64,
                    "base_url": f"{base}/junk-networks",
                    "networks": "all",
                },
                {"source": "dli", "name": "healthy", "url": healthy.url, "username": "admin", "password": "healthy-pw"},
            ],
        }
        exp = await stack.enter_async_context(
            ExporterProcess(tmp_path, yaml.safe_dump(config), env={"PYTHONPATH": str(ROOT)})
        )
        yield exp, healthy


def _peak_rss_kb(exp: ExporterProcess) -> int:
    assert exp.proc is not None
    status = Path(f"/proc/{exp.proc.pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


def _failures(m: Samples, case: Case) -> float:
    return value(m, FAILURES, source=case.source, target=case.target, reason=case.reason) or 0.0


async def test_hostile_answers_fail_only_their_targets(fleet: tuple[ExporterProcess, DliSimulator]) -> None:
    exp, _healthy = fleet
    await exp.wait_for_sample(UP, 1, source="dli", target="healthy", timeout=30)
    first = await exp.metrics()
    healthy_polls_before = value(first, POLLS, source="dli", target="healthy") or 0.0

    scrape_seconds: list[float] = []
    latest: Samples = {}

    async def bad_targets_failing_and_healthy_polling() -> bool:
        nonlocal latest
        start = time.monotonic()
        latest = await exp.metrics()
        scrape_seconds.append(time.monotonic() - start)
        healthy_polls = value(latest, POLLS, source="dli", target="healthy") or 0.0
        discovery_failures = value(
            latest, DISCOVERY_FAILURES, source="cloudtrax", group=DISCOVERING_GROUP, reason="bad_response"
        )
        return (
            healthy_polls >= healthy_polls_before + 3
            and (discovery_failures or 0.0) >= 2
            and all(
                value(latest, UP, source=c.source, target=c.target) == 0 and _failures(latest, c) >= 3 for c in CASES
            )
        )

    await exp.wait_for(
        bad_targets_failing_and_healthy_polling, timeout=90, interval=0.2, what="bad targets failing, healthy polling"
    )

    # The healthy target kept polling, and succeeding, while the bad ones failed again and again.
    assert value(latest, UP, source="dli", target="healthy") == 1
    assert sum(v for (n, labels), v in latest.items() if n == FAILURES and ("target", "healthy") in labels) == 0
    # /metrics answered every scrape promptly, even while 2 MB answers were being taken apart.
    assert max(scrape_seconds) < 3.0, scrape_seconds
    assert _peak_rss_kb(exp) < PEAK_RSS_LIMIT_KB, f"peak RSS {_peak_rss_kb(exp)} kB"

    logs = exp.logs()
    assert "Traceback" not in logs
    assert "unexpected poll error" not in logs
    discovery_warnings = [
        line for line in logs.splitlines() if "level=warn " in line and 'msg="discovery failed"' in line
    ]
    assert len(discovery_warnings) == 1, discovery_warnings
    assert "exceeds max_items_per_answer" in discovery_warnings[0]
    for case in CASES:
        warnings = [
            line
            for line in logs.splitlines()
            if "level=warn " in line
            and 'msg="poll failed"' in line
            and re.search(rf"\btarget={re.escape(case.target)}(\s|$)", line)
        ]
        assert len(warnings) == 1, f"{case}: {warnings}"
        assert f"reason={case.reason}" in warnings[0]
