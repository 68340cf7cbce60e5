"""The poll engine, driven by the fake source on tiny intervals."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable

from exporter.engine.backoff import next_delay
from exporter.sources.api import PollError
from tests.core.conftest import LiveDaemon, eventually
from tests.core.fake_source import FLEET, script
from tests.support.process import find, value

Live = Callable[[str], Awaitable[LiveDaemon]]
FAST = "global: {interval: 50ms, timeout: 40ms, stale_after: 10s, backoff_max: 200ms, jitter: 0}\n"


def test_backoff_grows_doubles_and_caps() -> None:
    delays = [next_delay(10, n, 60, 0) for n in range(6)]
    assert delays == [10, 20, 40, 60, 60, 60]


def test_backoff_never_below_interval_when_cap_is_smaller() -> None:
    assert next_delay(30, 5, 10, 0) == 30


def test_retry_after_is_a_floor_that_jitter_cannot_cut() -> None:
    rng = random.Random(1)
    assert all(next_delay(1, 1, 600, 0.5, retry_after=120, rng=rng) == 120 for _ in range(50))
    assert next_delay(10, 3, 600, 0, retry_after=5) == 80


def test_retry_after_is_capped_at_the_backoff_cap() -> None:
    assert next_delay(10, 1, 600, 0, retry_after=10**9) == 600


def test_jitter_stays_within_bounds() -> None:
    rng = random.Random(7)
    values = [next_delay(100, 0, 600, 0.1, rng=rng) for _ in range(500)]
    assert min(values) >= 90 and max(values) <= 110 and len(set(values)) > 100


async def test_successful_polls_publish_samples_and_self_metrics(live: Live) -> None:
    d = await live(FAST + "targets: [{source: fake, name: a, devices: 2, ports: 3}]\n")
    await eventually(lambda: script("a").polls >= 2, what="two polls")
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="a") == 1
    assert len(find(m, "fake_device_value")) == 2
    assert len(find(m, "fake_port_value", device="a-d1")) == 3
    assert value(m, "powerstrip_exporter_target_polls_total", source="fake", target="a") >= 1
    for reason in ("timeout", "connection", "http_status", "auth", "rate_limited", "bad_response", "sample_limit"):
        assert value(m, "powerstrip_exporter_target_poll_failures_total", source="fake", target="a", reason=reason) == 0
    assert value(m, "powerstrip_exporter_target_interval_seconds", source="fake", target="a") == 0.05
    assert value(m, "powerstrip_exporter_api_request_duration_seconds_count", source="fake", endpoint="GET /fake") >= 1


async def test_timeout_is_counted_and_target_goes_down(live: Live) -> None:
    d = await live(FAST + "targets: [{source: fake, name: slow, mode: hang}, {source: fake, name: ok}]\n")
    await eventually(lambda: d.daemon.engine.store.states[("fake", "slow")].polls >= 1, what="a timed-out poll")
    m = await d.metrics()
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="slow") == 0
    assert (
        value(m, "powerstrip_exporter_target_poll_failures_total", source="fake", target="slow", reason="timeout") >= 1
    )
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="ok") == 1
    assert d.daemon.engine.store.states[("fake", "slow")].last_error == "poll timed out"


async def test_exceptions_map_to_reasons(live: Live) -> None:
    d = await live(FAST + "targets: [{source: fake, name: a}]\n")
    states = d.daemon.engine.store
    await eventually(lambda: states.states[("fake", "a")].up, what="first success")
    script("a").error = PollError("auth", "fake: 401 bad credentials")
    await eventually(lambda: states.states[("fake", "a")].failures["auth"] >= 1, what="auth failure")
    script("a").error = RuntimeError("kaboom")
    await eventually(lambda: states.states[("fake", "a")].failures["bad_response"] >= 1, what="unexpected error")
    script("a").error = ConnectionRefusedError("refused")
    await eventually(lambda: states.states[("fake", "a")].failures["connection"] >= 1, what="connection error")
    script("a").error = None
    await eventually(lambda: states.states[("fake", "a")].up, timeout=15, what="recovery")


async def test_retry_after_delays_the_next_poll(live: Live) -> None:
    d = await live(FAST.replace("backoff_max: 200ms", "backoff_max: 1h") + "targets: [{source: fake, name: a}]\n")
    await eventually(lambda: script("a").polls >= 1, what="first poll")
    script("a").error = PollError("rate_limited", "fake: 429", retry_after=3600)
    await eventually(lambda: d.daemon.engine.store.states[("fake", "a")].failures["rate_limited"] == 1, what="429")
    polls = script("a").polls
    await asyncio.sleep(0.5)  # ten intervals: without Retry-After there would be several polls
    assert script("a").polls == polls


async def test_backoff_slows_polling_of_a_failing_target(live: Live) -> None:
    config = "global: {interval: 20ms, timeout: 20ms, backoff_max: 10s, jitter: 0}\n"
    d = await live(config + "targets: [{source: fake, name: bad, mode: error}, {source: fake, name: good}]\n")
    await asyncio.sleep(1.0)
    bad = d.daemon.engine.store.states[("fake", "bad")].polls
    good = d.daemon.engine.store.states[("fake", "good")].polls
    # 20ms, 40, 80, 160, 320, 640: at most ~7 polls in 1s with back-off versus ~50 without.
    assert bad <= 8 and good >= 3 * bad


async def test_stale_target_drops_device_series_but_keeps_up(live: Live) -> None:
    config = "global: {interval: 50ms, timeout: 40ms, stale_after: 300ms, backoff_max: 50ms, jitter: 0}\n"
    d = await live(config + "targets: [{source: fake, name: a}, {source: fake, name: b}]\n")
    await eventually(lambda: d.daemon.engine.store.states[("fake", "a")].up, what="first success")
    script("a").error = PollError("http_status", "fake: HTTP 503")
    await eventually(lambda: not d.daemon.engine.store.states[("fake", "a")].up, what="failure")
    m = await d.metrics()
    assert find(m, "fake_device_value", device="a-d0"), "kept until stale_after"
    await eventually(lambda: d.daemon.engine.store.states[("fake", "a")].stale, timeout=5, what="stale")
    m = await d.metrics()
    assert not find(m, "fake_device_value", device="a-d0")
    assert value(m, "powerstrip_exporter_target_up", source="fake", target="a") == 0
    assert find(m, "fake_device_value", device="b-d0")


async def test_stale_drop_happens_even_while_backing_off(live: Live) -> None:
    config = "global: {interval: 50ms, timeout: 40ms, stale_after: 200ms, backoff_max: 1h, jitter: 0}\n"
    d = await live(config + "targets: [{source: fake, name: a}]\n")
    await eventually(lambda: d.daemon.engine.store.states[("fake", "a")].up, what="first success")
    script("a").error = PollError("rate_limited", "429", retry_after=3600)
    await eventually(lambda: d.daemon.engine.store.states[("fake", "a")].stale, timeout=5, what="stale while waiting")
    assert script("a").polls == 2


async def test_vanished_devices_are_gone_in_the_next_snapshot(live: Live) -> None:
    d = await live(FAST + "targets: [{source: fake, name: a, devices: 3}]\n")
    await eventually(lambda: len(d.daemon.engine.store.states[("fake", "a")].samples.get("fake_device_value")) == 3)
    script("a").devices = 1
    await eventually(lambda: len(d.daemon.engine.store.states[("fake", "a")].samples.get("fake_device_value")) == 1)
    m = await d.metrics()
    assert [labels["device"] for labels, _ in find(m, "fake_device_value")] == ["a-d0"]


async def test_request_concurrency_is_bounded_per_source(live: Live) -> None:
    names = [f"t{i}" for i in range(12)]
    config = "global: {interval: 100ms, timeout: 100ms, jitter: 0}\nsources: {fake: {max_concurrent_requests: 3}}\n"
    d = await live(config + "targets: [{source: fake, name: g, targets: [" + ", ".join(names) + "]}]\n")
    for n in names:
        script(n).delay = 0.05
    await eventually(lambda: all(script(n).polls >= 3 for n in names), timeout=15, what="polls")
    assert FLEET["peak"] == 3, "twelve busy targets share three request slots"
    assert d.daemon.engine.is_ready()


async def test_waiting_for_a_shared_request_slot_does_not_count_against_the_timeout(live: Live) -> None:
    names = [f"q{i}" for i in range(5)]
    config = "global: {interval: 5s, timeout: 300ms, jitter: 0}\nsources: {fake: {max_concurrent_requests: 1}}\n"
    for n in names:
        script(n).delay = 0.1
    d = await live(config + "targets: [{source: fake, name: g, targets: [" + ", ".join(names) + "]}]\n")
    store = d.daemon.engine.store
    await eventually(lambda: all(store.states[("fake", n)].attempted for n in names), timeout=10, what="first polls")
    # One slot, five targets of 100 ms each: the last one queues ~400 ms, longer than its 300 ms timeout.
    states = store.states
    assert all(states[("fake", n)].up for n in names), {n: states[("fake", n)].last_error for n in names}


async def test_healthy_targets_poll_at_a_fixed_rate(live: Live) -> None:
    script("r").delay = 0.3
    d = await live("global: {interval: 400ms, timeout: 400ms, jitter: 0}\ntargets: [{source: fake, name: r}]\n")
    await eventually(lambda: script("r").polls >= 5, timeout=10, what="five polls")
    starts = script("r").starts
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    # Start to start is the interval (0.4 s), not the interval plus the poll's 0.3 s.
    assert gaps[len(gaps) // 2] < 0.6, gaps
    assert d.daemon.engine.store.states[("fake", "r")].up


async def test_a_hanging_target_does_not_delay_others_or_scrapes(live: Live) -> None:
    config = "global: {interval: 10s, timeout: 10s, jitter: 0}\n"
    d = await live(
        config + "targets: [{source: fake, name: stuck, mode: hang},"
        " {source: fake, name: fine, interval: 50ms, timeout: 50ms}]\n"
    )
    await eventually(lambda: script("fine").polls >= 5, what="other target keeps polling")
    status, _, _ = await d.get("/metrics")
    assert status == 200
    assert d.daemon.engine.store.states[("fake", "stuck")].attempted is False


async def test_concurrent_scrapes_always_see_whole_snapshots(live: Live) -> None:
    d = await live(
        "global: {interval: 10ms, timeout: 10ms, jitter: 0}\n"
        "targets: [{source: fake, name: a, devices: 50, ports: 4}, {source: fake, name: b, devices: 20}]\n"
    )
    await eventually(lambda: script("a").polls >= 1 and script("b").polls >= 1)

    async def scrape() -> None:
        m = await d.metrics()
        for target, devices, ports in (("a", 50, 4), ("b", 20, 2)):
            values = {v for labels, v in find(m, "fake_device_value") if labels["device"].startswith(f"{target}-")}
            port_values = {v for labels, v in find(m, "fake_port_value") if labels["device"].startswith(f"{target}-")}
            assert len(values) == 1, f"{target}: mixed generations {values}"
            assert port_values == values
            assert len(find(m, "fake_port_value")) >= devices * ports

    for _ in range(3):
        await asyncio.gather(*(scrape() for _ in range(100)))
    assert script("a").polls >= 3, "polls ran while scraping"


async def test_ready_only_after_every_first_poll_attempt(live: Live) -> None:
    d = await live(
        "global: {interval: 2s, timeout: 2s, jitter: 0}\n"
        "targets: [{source: fake, name: slow, mode: hang}, {source: fake, name: quick}]\n"
    )
    await eventually(lambda: script("quick").polls >= 1 and script("slow").polls >= 1, what="polls started")
    status, _, _ = await d.get("/-/ready")
    assert status == 503, "the hanging target has not finished its first attempt"
    await eventually(lambda: d.daemon.engine.is_ready(), timeout=10, what="ready after the timeout")
    status, text, _ = await d.get("/-/ready")
    assert status == 200 and text == "Ready.\n"


def test_retry_after_keeps_its_own_ceiling_under_a_short_backoff_cap() -> None:
    """A source capped at two intervals still waits what a server asked for, up to the global cap."""
    assert next_delay(1, 5, 2, 0) == 2
    assert next_delay(1, 5, 2, 0, retry_after=300, retry_after_max=600) == 300
    assert next_delay(1, 5, 2, 0, retry_after=10**9, retry_after_max=600) == 600


async def test_the_backoff_cap_comes_from_the_source_and_a_reload_of_it_restarts_its_targets(live: Live) -> None:
    base = "global: {interval: 1s, timeout: 1s, jitter: 0, backoff_max: 10m}\n"
    d = await live(base + "targets: [{source: fake, name: g, targets: [a]}]\n")
    engine = d.daemon.engine
    await eventually(lambda: "a" in engine.groups[("fake", "g")].runners, what="the runner")
    runner = engine.groups[("fake", "g")].runners["a"]
    assert (runner.backoff_max, runner.retry_after_max) == (600.0, 600.0)  # no source default: the global cap

    d.daemon.config_path.write_text(
        base + "sources: {fake: {backoff_max: 3s}}\n" + "targets: [{source: fake, name: g, targets: [a]}]\n"
    )
    assert (await d.daemon.reload()).ok
    await eventually(lambda: "a" in engine.groups[("fake", "g")].runners, what="the restarted runner")
    restarted = engine.groups[("fake", "g")].runners["a"]
    assert restarted is not runner
    assert (restarted.backoff_max, restarted.retry_after_max) == (3.0, 600.0)
