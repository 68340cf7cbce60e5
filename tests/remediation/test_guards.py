"""The guard rails' memory on its own: act once, per-target limit, budget and breaker."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.remediation.guards import Breaker, Episodes, SlidingCount, TargetLimit


def test_an_episode_is_seen_after_it_is_recorded_and_only_then() -> None:
    episodes = Episodes()
    key = ("rule", "abc", 1000.0)
    assert not episodes.seen(key, 0.0)
    assert not episodes.seen(key, 1.0)  # asking does not record
    episodes.record(key, 1.0)
    assert episodes.seen(key, 2.0)
    assert not episodes.seen(("rule", "abc", 2000.0), 2.0)  # a new startsAt is a new episode
    assert not episodes.seen(("other", "abc", 1000.0), 2.0)


def test_episodes_are_remembered_while_resent_and_forgotten_after_retention() -> None:
    episodes = Episodes(retention=100.0)
    key = ("rule", "abc", 1.0)
    episodes.record(key, 0.0)
    for now in (90.0, 180.0, 270.0):  # each resend refreshes it
        assert episodes.seen(key, now)
    assert not episodes.seen(key, 400.0)
    assert len(episodes) == 0


def test_episodes_are_bounded() -> None:
    episodes = Episodes(capacity=3)
    for i in range(10):
        episodes.record(("r", str(i), 0.0), float(i))
    assert len(episodes) == 3
    assert episodes.seen(("r", "9", 0.0), 10.0)
    assert not episodes.seen(("r", "0", 0.0), 10.0)


def test_target_limit_counts_per_target_in_a_sliding_window() -> None:
    limit = TargetLimit(2, 60.0)
    assert limit.allows("a", 0.0)
    limit.add("a", 0.0)
    limit.add("a", 10.0)
    assert not limit.allows("a", 20.0)
    assert limit.allows("b", 20.0)
    assert limit.allows("a", 60.0)  # the first has left the window
    limit.remove("a", 10.0)
    assert limit.allows("a", 30.0)


def test_breaker_opens_when_asked_beyond_the_budget_and_closes_on_its_timer() -> None:
    breaker = Breaker(budget=2, reset_after=600.0)
    assert breaker.take(0.0) and breaker.take(1.0)
    assert not breaker.is_open(2.0)  # the budget is spent, but nothing more was asked yet
    assert not breaker.take(2.0)
    assert breaker.is_open(3.0)
    assert not breaker.take(500.0)  # still open: its timer runs from the opening
    assert not breaker.is_open(602.0)
    assert breaker.take(3601.0)  # closed, and the hour's budget has rolled over


def test_a_refund_gives_budget_back_and_a_reset_closes_the_breaker() -> None:
    breaker = Breaker(budget=1, reset_after=600.0)
    assert breaker.take(5.0)
    breaker.refund(5.0)
    assert breaker.take(6.0)
    assert not breaker.take(7.0)
    breaker.reset()
    assert not breaker.is_open(8.0)
    assert breaker.take(8.0)


@given(st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=50), st.integers(1, 5))
def test_budget_never_exceeded_in_any_hour(times: list[float], budget: int) -> None:
    breaker = Breaker(budget=budget, reset_after=60.0)
    taken: list[float] = [t for t in sorted(times) if breaker.take(t)]
    for t in taken:
        assert sum(1 for u in taken if t <= u < t + 3600.0) <= budget


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=30))
def test_sliding_count_matches_a_recount(times: list[float]) -> None:
    count = SlidingCount(100.0)
    times = sorted(times)
    for t in times:
        count.add(t)
    now = (times[-1] if times else 0.0) + 1.0
    assert count.count(now) == sum(1 for t in times if now - t < 100.0)
