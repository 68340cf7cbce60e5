"""The remediation state file's content: what is written reads back the same across a restart (a new
monotonic clock), and what this exporter would not have written is refused whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.remediation.guards import Breaker, Kind, TargetLimit
from exporter.remediation.memory import Deferred, Memory, Pending, RuleMemory, dump, parse, restore_rule
from exporter.storage import StateFile
from tests.support.clock import WallAndMonoClock

BEFORE = WallAndMonoClock(wall=1_800_000_000.0, mono=5_000.0)
AFTER = WallAndMonoClock(wall=1_800_000_060.0, mono=12.0)
"""The same machine a minute later, after a restart: the monotonic clock started again."""


def sample() -> Memory:
    memory = Memory()
    memory.episodes.record(("cycle", "a1", 1_799_999_000.0), 4_990.0, Kind.CALLED)
    memory.episodes.record(("cycle", "b2", 1_799_999_100.0), 4_995.0, Kind.REFUSED)
    rule = RuleMemory(TargetLimit(1, 3600.0), Breaker(3, 3600.0))
    rule.breaker.take(4_980.0)
    rule.breaker.opened_at = 4_990.0
    rule.limit.add("dli.outlet_cycle device=pro outlet=1", 4_980.0)
    memory.rules["cycle"] = rule
    memory.pending[("a1", 1_799_999_000.0)] = Pending("cycle", "dli.outlet_cycle device=pro outlet=1", 5_500.0)
    memory.deferred[("cycle", "c3", 1_799_999_200.0)] = Deferred(
        "cycle", {"device": "pro", "outlet": 2}, "dli.outlet_cycle device=pro outlet=2", "127.0.0.1", 5_030.0, 1
    )
    return memory


def test_memory_reads_back_across_a_restart_on_the_new_monotonic_clock() -> None:
    data = json.loads(json.dumps(dump(sample(), BEFORE)))  # through JSON, as the file holds it
    loaded = parse(data, AFTER)
    shift = AFTER.mono_now - BEFORE.mono_now - (AFTER.wall() - BEFORE.wall())
    episodes = {key: (kind, round(seen - shift, 3)) for key, kind, seen in loaded.memory.episodes.entries()}
    assert episodes == {
        ("cycle", "a1", 1_799_999_000.0): (Kind.CALLED, 4_990.0),
        ("cycle", "b2", 1_799_999_100.0): (Kind.REFUSED, 4_995.0),
    }
    [(key, pending)] = loaded.memory.pending.items()
    assert key == ("a1", 1_799_999_000.0) and round(pending.deadline - shift, 3) == 5_500.0
    [(key, deferred)] = loaded.memory.deferred.items()
    assert (deferred.params, deferred.tries, round(deferred.retry_at - shift, 3)) == (
        {"device": "pro", "outlet": 2},
        1,
        5_030.0,
    )
    rule = RuleMemory(TargetLimit(1, 3600.0), Breaker(3, 3600.0))
    restore_rule(loaded.rules["cycle"], rule)
    assert rule.breaker.is_open(AFTER.mono_now)  # opened 70 s ago by the wall clock
    assert not rule.limit.allows("dli.outlet_cycle device=pro outlet=1", AFTER.mono_now)
    assert rule.limit.allows("dli.outlet_cycle device=pro outlet=2", AFTER.mono_now)


def test_times_from_the_future_are_read_as_now_and_due_times_within_a_week() -> None:
    data = dump(sample(), BEFORE)
    data["episodes"][0]["seen"] = 9e15
    data["rules"]["cycle"]["opened_at"] = 9e15
    data["pending"][0]["deadline"] = 9e15
    loaded = parse(data, AFTER)
    assert max(seen for _, _, seen in loaded.memory.episodes.entries()) == AFTER.mono_now
    assert loaded.rules["cycle"].opened_at == AFTER.mono_now  # open for breaker_reset from now, not forever
    [pending] = loaded.memory.pending.values()
    assert pending.deadline == AFTER.mono_now + 7 * 24 * 3600


def _with(path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(dump(sample(), BEFORE)))
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("episodes.0.seen", float("nan")),
        ("episodes.0.kind", 9),
        ("episodes.0.fingerprint", "../../etc"),
        ("episodes.0.rule", "x" * 65),
        ("episodes.0.extra", 1),
        ("rules.cycle.spent", [1.0] * 1001),
        ("rules.cycle.opened_at", "yesterday"),
        ("pending.0.deadline", None),
        ("deferred.0.tries", 1000),
        ("deferred.0.params", {f"p{i}": 1 for i in range(17)}),
        ("episodes", [{"rule": "r", "fingerprint": "a", "starts": 0.0, "kind": 0, "seen": 0.0}] * 10_001),
    ],
)
def test_anything_this_exporter_would_not_write_is_refused_whole(path: str, value: Any) -> None:
    with pytest.raises(ValueError):
        parse(_with(path, value), AFTER)


def test_an_unusable_file_is_reported_once_and_memory_starts_empty(tmp_path: Path) -> None:
    file = StateFile(tmp_path, "remediation", 1)
    file.path.write_text(json.dumps({"kind": "remediation", "version": 1, "data": _with("episodes.0.kind", 9)}))
    assert file.load(lambda data: parse(data, AFTER)) is None


@given(
    st.lists(
        st.tuples(
            st.text("0123456789abcdef", min_size=1, max_size=32), st.sampled_from(list(Kind)), st.floats(0, 5_000)
        ),
        max_size=50,
    )
)
def test_any_episodes_read_back_as_written(episodes: list[tuple[str, Kind, float]]) -> None:
    memory = Memory()
    for fingerprint, kind, seen in episodes:
        memory.episodes.record(("rule", fingerprint, 1.0), seen, kind)
    loaded = parse(json.loads(json.dumps(dump(memory, BEFORE))), BEFORE)
    before = {key: kind for key, kind, _ in memory.episodes.entries()}
    assert {key: kind for key, kind, _ in loaded.memory.episodes.entries()} == before
