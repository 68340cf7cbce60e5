"""The hostile-upstream suite: one real exporter process polls every fault of
`tests/support/hostile_upstream.py` beside healthy DLI and CloudTrax simulators.

For each fault: the fault's target is down with the right reason (or up, for the answers that are
usable), the healthy targets keep polling successfully, the process's peak memory stays bounded,
the log has no traceback and at most one warning per state change, and no secret reaches the log,
`/` or `/metrics`. One process serves all cases, so the suite costs one start-up.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DliSimulator
from tests.cloudtrax.conftest import KEY, SECRET, SEED_NETWORK
from tests.support.hostile_upstream import (
    FAULTS,
    FAULTS_BY_NAME,
    SECRETS,
    Fault,
    HostileUpstream,
    fault_targets,
    target_of,
)
from tests.support.process import ExporterProcess, Samples, find, value

pytestmark = pytest.mark.asyncio(loop_scope="module")

PEAK_RSS_BOUND_MB = 250
"""VmHWM of the whole exporter after every fault, the 50 MB body included (it is cut at 16 MB)."""
HEALTHY_DLI_PASSWORD = "Healthy-Dli-Pa55-m4"
REPEATS = 4
"""Failed polls a fault target must have before its log is judged (a per-poll line would show)."""
UP = "powerstrip_exporter_target_up"
FAILURES = "powerstrip_exporter_target_poll_failures_total"
POLLS = "powerstrip_exporter_target_polls_total"
HEALTHY = (("dli", "healthy_dli"), ("cloudtrax", str(SEED_NETWORK)))
ALL_SECRETS = (*SECRETS, HEALTHY_DLI_PASSWORD, KEY, SECRET)


@dataclass
class Rig:
    exp: ExporterProcess
    upstream: HostileUpstream


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    workdir = tmp_path_factory.mktemp("hostile")
    async with AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(HostileUpstream())
        dli = await stack.enter_async_context(DliSimulator("epcr", password=HEALTHY_DLI_PASSWORD))
        ct = await stack.enter_async_context(
            CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=3, networks=1)
        )
        config = {
            # A generous timeout for loopback (a busy machine must not fail the healthy targets),
            # short enough that the hanging faults are seen within seconds.
            "global": {"interval": "2s", "timeout": "2s", "backoff_max": "4s", "jitter": 0},
            "targets": [
                {"source": "dli", "name": "healthy_dli", "url": dli.url, "username": "admin", "password": "${DLI_PW}"},
                {"source": "cloudtrax", "name": "healthy_ct", "key": KEY, "secret": SECRET, "base_url": ct.url}
                | {"networks": [SEED_NETWORK], "usage_interval": "5s", "settings_interval": "5s"},
                *fault_targets(upstream, FAULTS),
            ],
        }
        exp = ExporterProcess(workdir, yaml.safe_dump(config), env={"DLI_PW": HEALTHY_DLI_PASSWORD})
        await stack.enter_async_context(exp)
        for source, target in HEALTHY:
            await exp.wait_for_sample(UP, 1, source=source, target=target, timeout=30)
        yield Rig(exp, upstream)


def _case(fault: Fault) -> object:
    return pytest.param(fault, id=fault.name)


def healthy_successes(m: Samples) -> list[float]:
    """Successful polls of each healthy target."""
    out = []
    for source, target in HEALTHY:
        polls = value(m, POLLS, source=source, target=target) or 0.0
        out.append(polls - sum(v for _, v in find(m, FAILURES, source=source, target=target)))
    return out


def peak_rss_mb(exp: ExporterProcess) -> float:
    assert exp.proc is not None
    status = Path(f"/proc/{exp.proc.pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


def log_lines_of(exp: ExporterProcess, target: str) -> list[str]:
    return [
        line for line in exp.logs().splitlines() if f"target={target} " in line or line.endswith(f"target={target}")
    ]


@pytest.mark.parametrize("fault", [_case(f) for f in FAULTS])
async def test_fault_costs_only_its_own_target(rig: Rig, fault: Fault) -> None:
    exp = rig.exp
    source, target = fault.vendor, target_of(fault)

    async def settled() -> bool:
        m = await exp.metrics()
        if fault.reason is None:
            return (
                value(m, UP, source=source, target=target) == 1
                and (value(m, POLLS, source=source, target=target) or 0) >= 2
            )
        failed = value(m, FAILURES, source=source, target=target, reason=fault.reason) or 0.0
        return value(m, UP, source=source, target=target) == 0 and failed >= REPEATS

    await exp.wait_for(settled, timeout=45, what=f"{fault.name}: target {target} settled ({fault.reason or 'up'})")
    before = healthy_successes(await exp.metrics())
    m = await exp.metrics()
    if fault.reason is not None:
        other = {lbls["reason"]: v for lbls, v in find(m, FAILURES, source=source, target=target) if v}
        assert set(other) == {fault.reason}, f"{fault.name}: failures by reason {other}"

    # the healthy targets kept polling successfully while this fault was being hit (successes after
    # it settled, not a snapshot of up: an overloaded machine may time out any single poll)
    async def healthy_polled() -> bool:
        now = healthy_successes(await exp.metrics())
        return all(n > b for n, b in zip(now, before, strict=True))

    await exp.wait_for(healthy_polled, timeout=30, what=f"healthy targets succeeding beside {fault.name}")

    assert peak_rss_mb(exp) < PEAK_RSS_BOUND_MB
    lines = log_lines_of(exp, target)
    assert not [line for line in lines if "Traceback" in line], f"{fault.name}: a traceback in the log"
    warnings = [line for line in lines if "level=debug" not in line]
    # one line per state change, not per poll: after REPEATS failures the same way, at most the line
    # for going down (a usable answer: none), and one for a possible recovery in between
    assert len(warnings) <= (2 if fault.reason else 0), f"{fault.name} logged:\n" + "\n".join(warnings[:10])
    await assert_no_secret(exp, target)

    check = EXTRA_CHECKS.get(fault.name)
    if check is not None:
        await check(rig, fault)


async def test_no_traceback_in_the_shared_log(rig: Rig) -> None:
    """No fault, of any target, puts a traceback in the log."""
    assert [line[:300] for line in rig.exp.logs().splitlines() if "Traceback" in line] == []


async def outputs(exp: ExporterProcess) -> dict[str, list[str]]:
    """The log's lines, the landing page's table rows and `/metrics`' lines."""
    out = {"log": exp.logs().splitlines()}
    for path in ("/", "/metrics"):
        status, text = await exp.get(path)
        assert status == 200, path
        out[path] = text.split("<tr>") if path == "/" else text.splitlines()
    return out


def names_target(line: str, target: str) -> bool:
    return f"target={target} " in line or line.endswith(f"target={target}") or f"<td>{target}</td>" in line


def leaked_piece(text: str) -> str | None:
    """The whole of a secret, or any 12-character piece of it that a cut text may leave behind."""
    for secret in ALL_SECRETS:
        for i in range(len(secret) - 11):
            if secret[i : i + 12] in text:
                return secret[i : i + 12]
    return None


async def assert_no_secret(exp: ExporterProcess, target: str) -> None:
    for where, lines in (await outputs(exp)).items():
        for line in lines:
            if names_target(line, target) or where == "/metrics":
                assert leaked_piece(line) is None, f"a piece of a secret in {where}: {line[:300]}"


async def test_no_secret_anywhere_in_the_output(rig: Rig) -> None:
    """No secret, nor a 12-character piece of one, in any log line, landing-page row or `/metrics` line."""
    for where, lines in (await outputs(rig.exp)).items():
        for line in lines:
            assert leaked_piece(line) is None, f"a piece of a secret in {where}: {line[:300]}"


# -- what some faults assert beyond the common checks -----------------------------------


async def _no_non_finite_series(rig: Rig, fault: Fault) -> None:
    text = await rig.exp.metrics_text()
    lines = [line for line in text.splitlines() if 'device="non_finite"' in line]
    assert len([line for line in lines if line.startswith("dli_meter_info{")]) == 4, lines
    assert not [line for line in lines if re.search(r"\s[+-]?(NaN|Inf)", line)], lines
    assert not [line for line in lines if line.startswith(("dli_bus_", "dli_temperature_"))], lines


async def _one_series_per_id(rig: Rig, fault: Fault) -> None:
    text = await rig.exp.metrics_text()
    lines = [
        line for line in text.splitlines() if not line.startswith("#") and f'network_id="{target_of(fault)}"' in line
    ]
    series = [line.rsplit(" ", 1)[0] for line in lines]
    assert series, "no series for the duplicated network"
    assert len(series) == len(set(series)), "a series appears twice"
    ports = {s for s in series if s.startswith("cloudtrax_powerstrip_port_info{")}
    assert len(ports) == 4, ports  # 2 strips x 2 ports, each listed twice upstream


async def _credentials_never_followed(rig: Rig, fault: Fault) -> None:
    assert rig.upstream.hits["landing"] == 0, "the exporter followed a redirect to another host"


async def _keeps_polling_despite_retry_after(rig: Rig, fault: Fault) -> None:
    exp, target = rig.exp, target_of(fault)
    start = value(await exp.metrics(), POLLS, source="cloudtrax", target=target) or 0.0

    async def polled_again() -> bool:
        return (value(await exp.metrics(), POLLS, source="cloudtrax", target=target) or 0.0) >= start + 2

    await exp.wait_for(polled_again, timeout=30, what="polls continue despite Retry-After: 10^12")


EXTRA_CHECKS = {
    "non_finite": _no_non_finite_series,
    "duplicate_ids": _one_series_per_id,
    "cross_host_redirect": _credentials_never_followed,
    "redirect_loop": _credentials_never_followed,
    "huge_retry_after": _keeps_polling_despite_retry_after,
}
assert set(EXTRA_CHECKS) <= set(FAULTS_BY_NAME)
