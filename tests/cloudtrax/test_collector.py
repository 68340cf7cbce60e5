"""Seed payloads through simulator -> client -> collector, exact samples, and request economy."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from exporter.sources.cloudtrax import CloudTraxSource
from exporter.sources.cloudtrax import metrics as m
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.endpoints import ALL_ENDPOINTS
from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.errors import CloudTraxNotFoundError
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import (
    KEY,
    SECRET,
    SEED_NETWORK,
    FakeClock,
    RecordingObserver,
    by_labels,
    make_entry,
    make_group,
    only_target,
)

S1 = ("12345", "1")
S2 = ("12345", "2")


async def test_seed_payloads_become_exact_samples(sim: CloudTraxSimulator) -> None:
    group = make_group(make_entry(sim.url))
    try:
        target = await only_target(group)
        assert target.name == "12345"
        first = await target.poll()
        samples = await target.poll()  # the first poll reads no usage: no energy counters yet
    finally:
        await group.aclose()

    assert not by_labels(first, "cloudtrax_powerstrip_port_energy_joules_total")

    # Strip 2 is down: its 0 V, 0 Hz and 0 W are not readings and give no samples.
    assert by_labels(samples, "cloudtrax_powerstrip_voltage_volts") == {S1: 116.0}
    assert by_labels(samples, "cloudtrax_powerstrip_frequency_hertz") == {S1: 60.0}
    assert by_labels(samples, "cloudtrax_powerstrip_up") == {S1: 1.0, S2: 0.0}
    assert by_labels(samples, "cloudtrax_powerstrip_cloud_status_info") == {(*S1, "up"): 1.0, (*S2, "down"): 1.0}
    assert by_labels(samples, "cloudtrax_powerstrip_need_pairing") == {S1: 0.0, S2: 0.0}
    assert by_labels(samples, "cloudtrax_powerstrip_surge_protection_active") == {S1: 1.0, S2: 0.0}
    assert by_labels(samples, "cloudtrax_powerstrip_info") == {
        (
            *S1,
            "ac:86:74:00:00:00",
            "Pat's Desk MP60",
            "P60",
            "6.4.6-c3b6f768496b73473b45a06b478bf2e75c6cdd5e",
            "repeater",
        ): 1.0,
        (*S2, "ac:86:74:00:00:01", "PS test 1", "MP60", "", "repeater"): 1.0,
    }
    assert by_labels(samples, "cloudtrax_powerstrip_last_checkin_timestamp_seconds") == {S1: 1525116551.232}
    assert by_labels(samples, "cloudtrax_powerstrip_boot_time_seconds") == {S1: 1525116551.232 - 1024671}
    assert by_labels(samples, "cloudtrax_powerstrip_ports") == {S1: 6.0, S2: 6.0}
    assert by_labels(samples, "cloudtrax_powerstrip_enabled_ports") == {S1: 6.0, S2: 6.0}
    assert by_labels(samples, "cloudtrax_powerstrip_active_ports") == {S1: 3.0, S2: 0.0}
    power = by_labels(samples, "cloudtrax_powerstrip_power_watts")
    assert power[S1] == pytest.approx(8.5 + 19.3 + 25.5)
    assert S2 not in power
    assert by_labels(samples, "cloudtrax_powerstrip_subscription_active") == {S2: 0.0}
    assert by_labels(samples, "cloudtrax_powerstrip_subscription_end_timestamp_seconds") == {}
    assert by_labels(samples, "cloudtrax_powerstrip_end_of_life_timestamp_seconds") == {S2: 1777507200.0}

    port4 = (*S1, "4")
    assert by_labels(samples, "cloudtrax_powerstrip_port_power_watts")[port4] == 25.5
    assert by_labels(samples, "cloudtrax_powerstrip_port_power_factor_ratio")[port4] == 0.71
    assert by_labels(samples, "cloudtrax_powerstrip_port_current_amperes")[port4] == 0.3
    assert by_labels(samples, "cloudtrax_powerstrip_port_apparent_power_voltamperes")[port4] == 35.9
    assert by_labels(samples, "cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive")[port4] == 3.1
    assert by_labels(samples, "cloudtrax_powerstrip_port_enabled")[port4] == 1.0
    info = by_labels(samples, "cloudtrax_powerstrip_port_info")
    assert info[(*port4, "Monitor ", "")] == 1.0
    assert len([k for k in info if k[:2] == S1]) == 6
    assert len([k for k in info if k[:2] == S2]) == 6  # the down strip's get has six idle ports
    assert by_labels(samples, "cloudtrax_powerstrip_port_enabled")[(*S2, "1")] == 1.0
    for family in (
        "cloudtrax_powerstrip_port_power_watts",
        "cloudtrax_powerstrip_port_current_amperes",
        "cloudtrax_powerstrip_port_apparent_power_voltamperes",
        "cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive",
        "cloudtrax_powerstrip_port_power_factor_ratio",
    ):
        assert not [k for k in by_labels(samples, family) if k[:2] == S2], family

    energy = by_labels(samples, "cloudtrax_powerstrip_port_energy_joules_total")
    # The first read only sets the mark: its window is history from before this process.
    assert energy[(*S1, "1")] == energy[(*S1, "4")] == 0.0

    assert by_labels(samples, "cloudtrax_network_powerstrip_settings_info") == {("12345", "stable"): 1.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_power_switch_enabled") == {("12345",): 0.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_mesh_enabled") == {("12345",): 0.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_auto_upgrade_enabled") == {("12345",): 0.0}
    assert by_labels(samples, "cloudtrax_network_powerstrip_firmware_info") == {
        ("12345", "1", "stable", ""): 1.0,
        ("12345", "6", "beta", ""): 1.0,
    }
    emitted = {f.spec.name for f in samples.families}
    assert emitted == {spec.name for spec in m.ALL_METRICS} - {
        "cloudtrax_powerstrip_subscription_end_timestamp_seconds"
    }


async def test_source_declares_every_family_and_endpoint() -> None:
    assert CloudTraxSource.metrics == m.ALL_METRICS
    assert len({s.name for s in m.ALL_METRICS}) == len(m.ALL_METRICS) == 30
    assert len(CloudTraxSource.api_endpoints) == 16
    assert CloudTraxSource.api_endpoints == ALL_ENDPOINTS


@pytest.fixture
async def fleet() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=12, networks=2) as sim:
        yield sim


async def test_one_call_per_object_per_cycle_and_slow_reads_on_their_intervals(
    fleet: CloudTraxSimulator, clock: FakeClock
) -> None:
    observer = RecordingObserver()
    entry = make_entry(fleet.url, networks=[100001], usage_interval="15m", settings_interval="1h")
    group = make_group(entry, clock=clock, observer=observer, max_concurrent=3)
    strips = fleet.state.networks[100001].strip_ids
    assert len(strips) == 6
    try:
        target = await only_target(group)
        assert target.concurrency == 3, "a poll's calls are bounded by the source's request slots"

        await target.poll()
        assert fleet.request_counts() == {  # the first poll: every strip on /metrics, nothing slower
            "GET /powerstrip/network/{network_id}/list": 1,
            "GET /powerstrip/{powerstrip_id}": 6,
            "GET /powerstrip/network/{network_id}/settings": 1,
            "GET /powerstrip/network/{network_id}/firmware_versions": 1,
        }
        fleet.reset_counts()
        clock.advance(60)
        first = await target.poll()
        counts = fleet.request_counts()
        assert counts == {
            "GET /powerstrip/network/{network_id}/list": 1,
            "GET /powerstrip/{powerstrip_id}": 6,
            "GET /powerstrip/{powerstrip_id}/usage": 6,
        }
        assert max(fleet.path_counts().values()) == 1  # no object asked for twice
        assert set(observer.calls) <= set(CloudTraxSource.api_endpoints)

        fleet.reset_counts()
        clock.advance(60)
        second = await target.poll()
        assert fleet.request_counts() == {
            "GET /powerstrip/network/{network_id}/list": 1,
            "GET /powerstrip/{powerstrip_id}": 6,
        }
        assert Counter(observer.calls) == Counter(  # every call went through the request slots
            {
                "GET /powerstrip/network/{network_id}/list": 3,
                "GET /powerstrip/{powerstrip_id}": 18,
                "GET /powerstrip/{powerstrip_id}/usage": 6,
                "GET /powerstrip/network/{network_id}/settings": 1,
                "GET /powerstrip/network/{network_id}/firmware_versions": 1,
            }
        )
        cached = ("cloudtrax_powerstrip_port_energy_joules_total", "cloudtrax_network_powerstrip_firmware_info")
        for name in (*cached, "cloudtrax_network_powerstrip_settings_info"):
            assert second.get(name), f"{name} not re-emitted from the cache"
            assert set(dict(second.get(name))) == set(dict(first.get(name)))

        fleet.reset_counts()
        clock.advance(15 * 60)
        await target.poll()
        assert fleet.request_counts()["GET /powerstrip/{powerstrip_id}/usage"] == 6
        assert "GET /powerstrip/network/{network_id}/settings" not in fleet.request_counts()
        assert max(fleet.path_counts().values()) == 1

        fleet.reset_counts()
        clock.advance(60 * 60)
        await target.poll()
        counts = fleet.request_counts()
        assert counts["GET /powerstrip/network/{network_id}/settings"] == 1
        assert counts["GET /powerstrip/network/{network_id}/firmware_versions"] == 1
    finally:
        await group.aclose()


async def test_new_strip_gets_usage_at_once_without_waiting(fleet: CloudTraxSimulator, clock: FakeClock) -> None:
    group = make_group(make_entry(fleet.url, networks=[100001]), clock=clock)
    try:
        target = await only_target(group)
        await target.poll()
        await target.poll()  # the first poll reads no usage, the second every strip's
        sid = await group.client.create_powerstrip(100001, mac="ac:86:74:00:99:01", name="new")
        fleet.reset_counts()
        clock.advance(30)
        samples = await target.poll()
        assert fleet.path_counts().get(f"GET /powerstrip/{sid}/usage") == 1
        assert fleet.request_counts()["GET /powerstrip/{powerstrip_id}/usage"] == 1
        assert (str(100001), str(sid)) in by_labels(samples, "cloudtrax_powerstrip_up")
    finally:
        await group.aclose()


async def test_create_and_delete_show_in_the_next_poll(sim: CloudTraxSimulator, client: CloudTraxClient) -> None:
    group = make_group(make_entry(sim.url))
    try:
        target = await only_target(group)
        before = by_labels(await target.poll(), "cloudtrax_powerstrip_up")
        assert set(before) == {S1, S2}

        sid = await client.create_powerstrip(SEED_NETWORK, mac="ac:86:74:00:20:01", name="garage", model="MP60")
        after_create = await target.poll()
        assert by_labels(after_create, "cloudtrax_powerstrip_up")[("12345", str(sid))] == 1.0
        names = {k[3] for k in by_labels(after_create, "cloudtrax_powerstrip_info")}
        assert "garage" in names

        await client.delete_powerstrip(sid)
        after_delete = await target.poll()
        assert set(by_labels(after_delete, "cloudtrax_powerstrip_up")) == {S1, S2}
        assert not any(k[1] == str(sid) for k in by_labels(after_delete, "cloudtrax_powerstrip_port_power_watts"))
        assert not any(
            k[1] == str(sid) for k in by_labels(after_delete, "cloudtrax_powerstrip_port_energy_joules_total")
        )
    finally:
        await group.aclose()


async def test_strip_deleted_between_list_and_get_is_skipped(
    sim: CloudTraxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = make_group(make_entry(sim.url))
    try:
        target = await only_target(group)
        client = group.client
        real_get = client.get_powerstrip

        async def get_or_gone(powerstrip_id: int) -> object:
            if powerstrip_id == 2:
                raise CloudTraxNotFoundError("http_status", "gone", status=404)
            return await real_get(powerstrip_id)

        monkeypatch.setattr(client, "get_powerstrip", get_or_gone)
        samples = await target.poll()
        assert set(by_labels(samples, "cloudtrax_powerstrip_up")) == {S1}
    finally:
        await group.aclose()


async def test_energy_never_decreases(sim: CloudTraxSimulator, clock: FakeClock) -> None:
    ledger = EnergyLedger()
    strip = sim.state.add_strip(sim.state.generate_strip(SEED_NETWORK, random.Random(3), sim.now()))
    for port in strip.ports:
        port.enable, port.load_w = True, 20.0
    group = make_group(make_entry(sim.url, usage_interval="1m"), clock=clock, ledger=ledger)
    key = ("12345", str(strip.powerstrip_id), "1")
    seen: list[float] = []
    try:
        target = await only_target(group)
        await target.poll()  # the first poll reads no usage
        for step in range(8):
            samples = await target.poll()
            seen.append(by_labels(samples, "cloudtrax_powerstrip_port_energy_joules_total")[key])
            if step == 3:
                await group.client.reboot_powerstrip(strip.powerstrip_id)
            clock.advance(61)
            sim.clock_offset += 300  # five minutes pass: one new usage sample each cycle
        assert seen == sorted(seen)
        assert seen[0] == 0.0  # the first read counts no history from before the start
        assert seen[-1] > 0
        # A rebuilt group (a config reload) continues the same counters instead of recounting.
        rebuilt = make_group(make_entry(sim.url, usage_interval="1m"), clock=clock, ledger=ledger)
        try:
            again = by_labels(
                await (await only_target(rebuilt)).poll(), "cloudtrax_powerstrip_port_energy_joules_total"
            )
            assert again[key] >= seen[-1]
            assert again[key] - seen[-1] <= 20.0 * 1.2 * 300  # at most the one new sample
        finally:
            await rebuilt.aclose()
    finally:
        await group.aclose()


async def test_all_discovers_networks_and_notices_new_ones(fleet: CloudTraxSimulator) -> None:
    observer = RecordingObserver()
    group = make_group(make_entry(fleet.url, networks="all", discovery_interval="2m"), observer=observer)
    try:
        assert group.rediscover_interval == 120.0
        first = await group.discover()
        assert sorted(t.name for t in first) == ["100001", "100002", "12345"]
        assert observer.calls == ["GET /network/list"]
        fleet.state.add_network(424242, "new site")
        second = await group.discover()
        assert sorted(t.name for t in second) == ["100001", "100002", "12345", "424242"]
        same = {t.name: t for t in second}
        assert all(same[t.name] is t for t in first)  # existing targets are kept, not rebuilt
    finally:
        await group.aclose()


async def test_static_group_discovers_without_io(sim: CloudTraxSimulator) -> None:
    group = make_group(make_entry(sim.url, networks=[5, 6]))
    try:
        assert group.rediscover_interval is None
        assert [t.name for t in await group.discover()] == ["5", "6"]
        assert sim.request_counts() == {}
        assert group._client is None  # nothing opened until the first poll
    finally:
        await group.aclose()


async def test_group_aclose_closes_the_shared_session(sim: CloudTraxSimulator) -> None:
    group = make_group(make_entry(sim.url, networks=[SEED_NETWORK]))
    target = await only_target(group)
    await target.poll()
    client = group.client
    assert target.client is client  # actions reuse the shared client
    session = client._session
    assert session is not None and not session.closed
    await group.aclose()
    assert session.closed


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("up", "up"),
        (" Down ", "down"),
        ("unknown", "unknown"),
        ("pairing", "pairing"),
        ("", "other"),
        ("x" * 500, "other"),
    ],
)
def test_cloud_status_label_is_bounded(raw: str, label: str) -> None:
    """Only the documented statuses become label values: a vendor surprise cannot mint new series."""
    from exporter.sources.cloudtrax.collector import cloud_status_label

    assert cloud_status_label(raw) == label
