"""The real `powerstrip-exporter` process polling the real simulator over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.endpoints import ALL_ENDPOINTS
from powerstrip_sim.cloudtrax import CloudTraxSimulator, FaultKind
from tests.cloudtrax.conftest import KEY, SECRET, SEED_NETWORK, exporter_config
from tests.support.process import ExporterProcess, Samples, find, value

OTHER_NETWORK = 100001
WRONG_SECRET = "5ec7e7" * 10 + "abcd"
UP = "powerstrip_exporter_target_up"
FAILURES = "powerstrip_exporter_target_poll_failures_total"
POLLS = "powerstrip_exporter_target_polls_total"


def config_for(sim: CloudTraxSimulator, *, secret: str = SECRET, networks: object = "all") -> str:
    intervals = {"usage_interval": "5s", "settings_interval": "5s", "discovery_interval": "5s"}
    return exporter_config(sim, secret=secret, networks=networks, **intervals)


@pytest.fixture
async def sim() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=3, networks=1) as simulator:
        yield simulator


def target_value(samples: Samples, name: str, target: str, **labels: str) -> float | None:
    return value(samples, name, source="cloudtrax", target=target, **labels)


FAULTS: list[tuple[FaultKind, dict[str, float], str]] = [
    ("latency", {"seconds": 3.0}, "timeout"),
    ("http_5xx", {}, "http_status"),
    ("rate_limit", {"retry_after": 1.0}, "rate_limited"),
    ("malformed_json", {}, "bad_response"),
    ("html", {}, "bad_response"),
    ("drop", {}, "connection"),
    ("expired_key", {}, "auth"),
]


async def test_every_fault_mode_is_visible_and_recovers(tmp_path: Path, sim: CloudTraxSimulator) -> None:
    seed, other = str(SEED_NETWORK), str(OTHER_NETWORK)
    async with ExporterProcess(tmp_path, config_for(sim)) as exp:
        await exp.wait_for_sample(UP, 1.0, source="cloudtrax", target=seed)
        await exp.wait_for_sample(UP, 1.0, source="cloudtrax", target=other)
        for index, (kind, params, reason) in enumerate(FAULTS):
            scope = {"powerstrip_id": 2} if index % 2 else {"network_id": SEED_NETWORK}
            before = await exp.metrics()
            failures_before = target_value(before, FAILURES, seed, reason=reason) or 0.0
            other_polls_before = target_value(before, POLLS, other) or 0.0

            sim.set_fault(kind, **scope, **params)  # type: ignore[arg-type]
            latest: Samples = {}

            async def failed(reason: str = reason, baseline: float = failures_before) -> bool:
                nonlocal latest
                latest = await exp.metrics()
                return (
                    target_value(latest, UP, seed) == 0.0
                    and (target_value(latest, FAILURES, seed, reason=reason) or 0.0) > baseline
                )

            await exp.wait_for(failed, timeout=20, what=f"{kind} -> target_up 0 with reason {reason}")
            # The seed network's last good device samples are still served while it fails.
            assert find(latest, "cloudtrax_powerstrip_voltage_volts", network_id=seed)

            async def other_kept_polling(baseline: float = other_polls_before) -> bool:
                samples = await exp.metrics()
                polls = target_value(samples, POLLS, other) or 0.0
                return polls >= baseline + 2 and target_value(samples, UP, other) == 1.0

            await exp.wait_for(other_kept_polling, timeout=20, what=f"{other} keeps updating during {kind}")

            sim.clear_faults(**scope)  # type: ignore[arg-type]
            await exp.wait_for_sample(UP, 1.0, timeout=20, source="cloudtrax", target=seed)
        logs = exp.logs()
    assert "poll failed" in logs
    assert KEY not in logs and SECRET not in logs


async def test_created_strip_appears_within_one_cycle_and_leaves_after_delete(
    tmp_path: Path, sim: CloudTraxSimulator
) -> None:
    list_path = f"GET /powerstrip/network/{SEED_NETWORK}/list"
    async with (
        ExporterProcess(tmp_path, config_for(sim, networks=[SEED_NETWORK])) as exp,
        CloudTraxClient(KEY, SECRET, base_url=sim.url) as client,
    ):
        samples = await exp.wait_for_sample(UP, 1.0, source="cloudtrax", target=str(SEED_NETWORK))
        for endpoint in ALL_ENDPOINTS:  # pre-initialised, whether used yet or not
            assert (
                value(
                    samples,
                    "powerstrip_exporter_api_request_duration_seconds_count",
                    source="cloudtrax",
                    endpoint=endpoint,
                )
                is not None
            )
        assert (
            value(
                samples,
                "powerstrip_exporter_api_request_duration_seconds_count",
                source="cloudtrax",
                endpoint=ALL_ENDPOINTS[2],
            )
            or 0
        ) >= 1

        sid = await client.create_powerstrip(SEED_NETWORK, mac="ac:86:74:00:30:01", name="garage")
        lists_at_create = sim.path_counts().get(list_path, 0)
        await exp.wait_for_sample("cloudtrax_powerstrip_up", 1.0, network_id=str(SEED_NETWORK), powerstrip_id=str(sid))
        # Seen after at most the cycle in flight plus one more.
        assert sim.path_counts()[list_path] - lists_at_create <= 2
        samples = await exp.metrics()
        info = find(samples, "cloudtrax_powerstrip_info", powerstrip_id=str(sid))
        assert [labels["name"] for labels, _ in info] == ["garage"]  # (find() itself takes `name` positionally)
        assert len(find(samples, "cloudtrax_powerstrip_port_power_watts", powerstrip_id=str(sid))) == 6

        await client.delete_powerstrip(sid)
        lists_at_delete = sim.path_counts()[list_path]

        async def gone() -> bool:
            return not find(await exp.metrics(), "cloudtrax_powerstrip_up", powerstrip_id=str(sid))

        await exp.wait_for(gone, timeout=20, what=f"strip {sid} gone after delete")
        assert sim.path_counts()[list_path] - lists_at_delete <= 2
        samples = await exp.metrics()
        assert not find(samples, "cloudtrax_powerstrip_port_energy_joules_total", powerstrip_id=str(sid))
        assert (
            value(samples, "cloudtrax_powerstrip_voltage_volts", network_id=str(SEED_NETWORK), powerstrip_id="1")
            == 116.0
        )


async def test_bad_secret_is_auth_and_never_shown(tmp_path: Path, sim: CloudTraxSimulator) -> None:
    async with ExporterProcess(tmp_path, config_for(sim, secret=WRONG_SECRET, networks=[SEED_NETWORK])) as exp:

        async def auth_failures() -> bool:
            samples = await exp.metrics()
            target = str(SEED_NETWORK)
            return (
                target_value(samples, UP, target) == 0.0
                and (target_value(samples, FAILURES, target, reason="auth") or 0) >= 2
            )

        await exp.wait_for(auth_failures, timeout=20, what="auth failures for a bad secret")
        shown = [await exp.metrics_text()]
        for path in ("/", "/config"):
            status, text = await exp.get(path)
            assert status == 200
            shown.append(text)
        shown.append(exp.logs())
    assert "13000" in shown[-1]  # the code is logged ...
    for text in shown:  # ... the credentials are not
        assert WRONG_SECRET not in text
        assert KEY not in text


async def test_clock_skew_is_corrected_by_the_running_exporter(tmp_path: Path) -> None:
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, clock_offset=2 * 3600.0) as skewed,
        ExporterProcess(tmp_path, config_for(skewed, networks=[SEED_NETWORK])) as exp,
    ):
        samples = await exp.wait_for_sample(UP, 1.0, source="cloudtrax", target=str(SEED_NETWORK))
        assert (target_value(samples, FAILURES, str(SEED_NETWORK), reason="auth") or 0) == 0
        assert skewed.request_counts()["GET /time"] == 1
