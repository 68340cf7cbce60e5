"""The guard rails' memory on its own: act once, per-target limit, budget and breaker, bounded by priority."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exporter.remediation.guards import Breaker, Episodes, Kind, SlidingCount, TargetLimit


def test_an_episode_is_seen_after_it_is_recorded_and_only_then() -> None:
    episodes = Episodes()
    key = ("rule", "abc", 1000.0)
    assert not episodes.seen(key, 0.0)
    assert not episodes.seen(key, 1.0)  # asking does not record
    episodes.record(key, 1.0, Kind.CALLED)
    assert episodes.seen(key, 2.0)
    assert not episodes.seen(("rule", "abc", 2000.0), 2.0)  # a new startsAt is a new episode
    assert not episodes.seen(("other", "abc", 1000.0), 2.0)


def test_episodes_are_remembered_while_resent_and_forgotten_after_retention() -> None:
    episodes = Episodes(retention=100.0)
    key = ("rule", "abc", 1.0)
    episodes.record(key, 0.0, Kind.CALLED)
    for now in (90.0, 180.0, 270.0):  # each resend refreshes it
        assert episodes.seen(key, now)
    assert not episodes.seen(key, 400.0)
    assert len(episodes) == 0


def test_episodes_are_bounded() -> None:
    episodes = Episodes(capacity=3)
    for i in range(10):
        episodes.record(("r", str(i), 0.0), float(i), Kind.REFUSED)
    assert len(episodes) == 3
    assert episodes.seen(("r", "9", 0.0), 10.0)
    assert not episodes.seen(("r", "0", 0.0), 10.0)


def test_refusals_never_displace_an_episode_that_called_a_device() -> None:
    episodes = Episodes(capacity=100)
    acted = ("r", "acted", 0.0)
    dry = ("dry", "d", 0.0)
    episodes.record(acted, 0.0, Kind.CALLED)
    episodes.record(dry, 0.5, Kind.DRY_RUN)
    for i in range(10_000):  # the flood: each refusal is newer than both
        episodes.record(("r", f"{i:x}", 0.0), 1.0 + i, Kind.REFUSED)
    assert len(episodes) == 100
    assert episodes.seen(acted, 20_000.0) and episodes.seen(dry, 20_000.0)
    assert episodes.kind(acted) is Kind.CALLED


def test_a_full_memory_gives_up_the_lowest_kind_first_and_the_oldest_within_it() -> None:
    episodes = Episodes(capacity=3)
    episodes.record(("r", "c1", 0.0), 0.0, Kind.CALLED)
    episodes.record(("r", "d1", 0.0), 1.0, Kind.DRY_RUN)
    episodes.record(("r", "c2", 0.0), 2.0, Kind.CALLED)
    episodes.record(("r", "c3", 0.0), 3.0, Kind.CALLED)  # the dry run goes, though it is not the oldest
    assert {k[1] for k, _, _ in episodes.entries()} == {"c1", "c2", "c3"}
    episodes.record(("r", "x", 0.0), 4.0, Kind.REFUSED)  # a refusal cannot get in at all
    assert {k[1] for k, _, _ in episodes.entries()} == {"c1", "c2", "c3"}
    episodes.record(("r", "c4", 0.0), 5.0, Kind.CALLED)  # only another called episode displaces one
    assert {k[1] for k, _, _ in episodes.entries()} == {"c2", "c3", "c4"}


@given(st.lists(st.sampled_from(list(Kind)), max_size=200), st.integers(1, 20))
def test_the_bound_holds_by_priority(kinds: list[Kind], capacity: int) -> None:
    """Whatever the order of arrival: nothing dropped outranks anything kept, and the bound holds."""
    episodes = Episodes(capacity=capacity)
    for fp, kind in enumerate(kinds):
        episodes.record(("r", str(fp), 0.0), float(fp), kind)
    kept = {int(k[1]): kind for k, kind, _ in episodes.entries()}
    assert len(kept) == min(capacity, len(kinds))
    assert all(kinds[fp] == kind for fp, kind in kept.items())
    dropped = [kind for fp, kind in enumerate(kinds) if fp not in kept]
    assert all(d <= k for d in dropped for k in kept.values())
    for kind in Kind:  # within a kind, the newest are kept
        mine = [fp for fp, k in enumerate(kinds) if k is kind]
        kept_of_kind = sum(k is kind for k in kept.values())
        assert {fp for fp in kept if kinds[fp] is kind} == set(mine[len(mine) - kept_of_kind :])


def test_a_refund_leaves_no_target_behind() -> None:
    limit = TargetLimit(1, 3600.0, capacity=2)
    limit.add("acted", 0.0)
    for i in range(1000):  # reserved, then handed back: a refusal that called nothing
        limit.add(f"t{i}", 1.0 + i)
        limit.remove(f"t{i}", 1.0 + i)
    assert len(limit) == 1
    assert not limit.allows("acted", 2000.0)


def test_a_full_target_limit_drops_targets_with_nothing_left_in_the_window_first() -> None:
    limit = TargetLimit(1, 100.0, capacity=2)
    limit.add("old", 0.0)
    limit.add("recent", 150.0)
    limit.add("new", 160.0)  # "old" has left its window: it goes, not "recent"
    assert not limit.allows("recent", 170.0) and not limit.allows("new", 170.0)
    assert set(limit.history()) == {"recent", "new"}


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
