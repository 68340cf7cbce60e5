"""Every simulator fault, per strip, per network and everywhere, through the engine's own runner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from exporter.engine.runner import TargetRunner
from exporter.engine.state import SnapshotStore
from exporter.metrics.reasons import PollFailureReason
from exporter.sources.cloudtrax.source import CloudTraxGroup
from powerstrip_sim.cloudtrax import CloudTraxSimulator, FaultKind
from tests.cloudtrax.conftest import KEY, SECRET, SEED_NETWORK, make_entry, make_group

OTHER_NETWORK = 100001
TIMEOUT = 2.0
"""A poll's timeout: the latency faults exceed it; a healthy poll of the other network stays well within
it even on a busy machine (that poll makes eight calls to the simulator)."""

CASES: list[tuple[FaultKind, dict[str, float | int], PollFailureReason]] = [
    ("latency", {"seconds": 5 * TIMEOUT}, "timeout"),
    ("http_5xx", {}, "http_status"),
    ("http_5xx", {"status": 502}, "http_status"),
    ("rate_limit", {"retry_after": 42}, "rate_limited"),
    ("malformed_json", {}, "bad_response"),
    ("html", {}, "bad_response"),
    ("html", {"status": 502}, "http_status"),
    ("drop", {}, "connection"),
    ("expired_key", {}, "auth"),
]


@pytest.fixture
async def two_networks() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=3, networks=1) as sim:
        yield sim


@pytest.fixture
async def runners(two_networks: CloudTraxSimulator) -> AsyncIterator[dict[str, TargetRunner]]:
    group: CloudTraxGroup = make_group(
        make_entry(two_networks.url, networks=[SEED_NETWORK, OTHER_NETWORK]), timeout=TIMEOUT
    )
    store = SnapshotStore()
    out = {t.name: TargetRunner("cloudtrax", t, store, jitter=0.0, backoff_max=60.0) for t in await group.discover()}
    yield out
    await group.aclose()


async def poll_all(runners: dict[str, TargetRunner]) -> dict[str, float | None]:
    return {name: await runner.poll_once() for name, runner in runners.items()}


@pytest.mark.parametrize("scope", ["strip", "network"])
@pytest.mark.parametrize(("kind", "params", "reason"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
async def test_fault_fails_only_its_network_and_clears(
    two_networks: CloudTraxSimulator,
    runners: dict[str, TargetRunner],
    scope: str,
    kind: FaultKind,
    params: dict[str, float | int],
    reason: PollFailureReason,
) -> None:
    seed, other = runners[str(SEED_NETWORK)], runners[str(OTHER_NETWORK)]
    await poll_all(runners)
    assert seed.state.up and other.state.up
    polls_before = other.state.polls

    where = {"powerstrip_id": 2} if scope == "strip" else {"network_id": SEED_NETWORK}
    two_networks.set_fault(kind, **where, **params)  # type: ignore[arg-type]
    retry_after = await poll_all(runners)

    assert not seed.state.up
    assert seed.state.last_reason == reason
    assert seed.state.failures[reason] == 1
    assert sum(seed.state.failures.values()) == 1
    assert seed.state.samples.get("cloudtrax_powerstrip_up"), "last good samples are kept until stale"
    for secret in (KEY, SECRET):
        assert secret not in (seed.state.last_error or "")
    assert other.state.up and other.state.polls == polls_before + 1
    if kind == "rate_limit":
        assert retry_after[str(SEED_NETWORK)] == 42.0

    two_networks.clear_faults(**where)  # type: ignore[arg-type]
    await poll_all(runners)
    assert seed.state.up and seed.state.last_reason is None
    assert other.state.up


@pytest.mark.parametrize(("kind", "params", "reason"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
async def test_global_fault_fails_every_network(
    two_networks: CloudTraxSimulator,
    runners: dict[str, TargetRunner],
    kind: FaultKind,
    params: dict[str, float | int],
    reason: PollFailureReason,
) -> None:
    two_networks.set_fault(kind, **params)  # type: ignore[arg-type]
    await poll_all(runners)
    assert {name: (r.state.up, r.state.last_reason) for name, r in runners.items()} == {
        str(SEED_NETWORK): (False, reason),
        str(OTHER_NETWORK): (False, reason),
    }
    two_networks.clear_faults()
    await poll_all(runners)
    assert all(r.state.up for r in runners.values())


async def test_simulator_latency_parameter_times_out(
    two_networks: CloudTraxSimulator, runners: dict[str, TargetRunner]
) -> None:
    two_networks.latency = 2 * TIMEOUT
    await poll_all(runners)
    assert all(r.state.last_reason == "timeout" for r in runners.values())
    two_networks.latency = 0.0
    await poll_all(runners)
    assert all(r.state.up for r in runners.values())


async def test_fault_on_an_unrelated_strip_changes_nothing(
    two_networks: CloudTraxSimulator, runners: dict[str, TargetRunner]
) -> None:
    two_networks.set_fault("http_5xx", powerstrip_id=999999)
    await poll_all(runners)
    assert all(r.state.up for r in runners.values())
