"""Properties of the energy ledger under any sequence of reads, hostile readings included."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.sources.cloudtrax.energy import EnergyLedger, reading_problem
from exporter.sources.cloudtrax.energy_store import parse_state
from exporter.sources.cloudtrax.models import UsageSample

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPACING = 300
WINDOW = 24
"""Samples per read, as in the 2hours window."""
NOW = (T0 + timedelta(days=30)).timestamp()

readings = st.one_of(
    st.floats(min_value=0.0, max_value=5000.0),
    st.none(),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1.0, -1e-9, 2e4]),
    st.floats(allow_nan=True, allow_infinity=True),
)
timelines = st.lists(st.tuples(readings, readings), min_size=2, max_size=80)
"""Power of ports "1" and "2" at each point of a regular 5-minute grid."""


def point(index: int, watts: tuple[float | None, float | None]) -> UsageSample:
    return UsageSample.model_validate(
        {
            "time": T0 + timedelta(seconds=index * SPACING),
            "ports": {"1": {"active_power_w": watts[0]}, "2": {"active_power_w": watts[1]}},
        }
    )


def window(points: list[UsageSample], end: int) -> list[UsageSample]:
    """What a usage read returns when the newest published sample is `end`."""
    return points[max(0, end - WINDOW + 1) : end + 1]


@st.composite
def reads(draw: st.DrawFn) -> tuple[list[UsageSample], list[int]]:
    """A timeline and the newest sample of each read: repeats, overlaps, re-reads of older windows."""
    timeline = draw(timelines)
    points = [point(i, w) for i, w in enumerate(timeline)]
    ends = draw(st.lists(st.integers(0, len(points) - 1), min_size=1, max_size=20))
    return points, ends


def fresh() -> EnergyLedger:
    return EnergyLedger(wall_clock=lambda: NOW, started=NOW)


def feed(book: EnergyLedger, points: list[UsageSample], ends: list[int]) -> None:
    for end in ends:
        book.integrate(1, 7, window(points, end))


@settings(max_examples=300, deadline=None)
@given(reads())
def test_counters_are_finite_and_never_decrease(case: tuple[list[UsageSample], list[int]]) -> None:
    points, ends = case
    book = fresh()
    before: dict[str, float] = {}
    for end in ends:
        book.integrate(1, 7, window(points, end))
        now = book.joules(1, 7)
        for port, joules in now.items():
            assert math.isfinite(joules) and joules >= 0.0
            assert joules >= before.get(port, 0.0)
        before = now


@settings(max_examples=300, deadline=None)
@given(reads())
def test_every_sample_after_the_first_read_is_counted_exactly_once(
    case: tuple[list[UsageSample], list[int]],
) -> None:
    """Overlapping windows, repeated and older reads: the total is each new sample's energy, once."""
    points, ends = case
    book = fresh()
    feed(book, points, ends)
    mark = ends[0]
    newest = max(ends)
    for port_index, port in enumerate(("1", "2")):
        expected = 0.0
        for i in range(mark + 1, newest + 1):
            power = points[i].ports[port].active_power_w
            if reading_problem(power) is None:
                assert power is not None
                expected += power * SPACING
        got = book.joules(1, 7)[port]
        if reached_by_reads(ends):  # else samples were missed, and a hole may be bridged by one interval
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6), (port_index, got, expected)


def reached_by_reads(ends: list[int]) -> bool:
    """Every read that moved on still reached back to the newest sample before it (no missed samples).

    (The spacing is then always known: a read that moves on has at least two points.)"""
    newest = ends[0]
    for end in ends[1:]:
        if end > newest:
            if end - newest > WINDOW:
                return False
            newest = end
    return True


@settings(max_examples=300, deadline=None)
@given(reads(), st.data())
def test_a_restart_with_saved_state_equals_no_restart(
    case: tuple[list[UsageSample], list[int]], data: st.DataObject
) -> None:
    points, ends = case
    cut = data.draw(st.integers(1, len(ends)))
    through = fresh()
    feed(through, points, ends)

    before = fresh()
    feed(before, points, ends[:cut])
    saved = json.loads(json.dumps({"strips": before.export_state()}, allow_nan=False))
    after = fresh()
    after.restore(parse_state(saved, now=NOW))
    feed(after, points, ends[cut:])
    assert after.joules(1, 7) == through.joules(1, 7)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.integers(-(10**10), 10**11),
                st.sampled_from([0, 1, 2, 60, 300, 301, 10**9]),
            ),
            readings,
        ),
        max_size=40,
    ),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
def test_arbitrary_timestamps_and_values_keep_the_counter_finite_and_monotonic(
    raw: list[tuple[int, float | None]], cuts: list[int]
) -> None:
    """Any times (past, duplicate, far future) in any order: nothing raises, nothing goes NaN, Inf or down."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    pts = [
        UsageSample.model_validate(
            {
                "time": epoch + timedelta(seconds=max(-(10**10), min(t, 2 * 10**11))),
                "ports": {"1": {"active_power_w": w}},
            }
        )
        for t, w in raw
    ]
    book = fresh()
    last = 0.0
    start = 0
    for cut in cuts:
        book.integrate(1, 7, pts[start : start + cut])
        start = max(0, start + cut // 2)
        got = book.joules(1, 7).get("1", 0.0)
        assert math.isfinite(got) and got >= last
        last = got
    assert all(v >= 0 for v in book.rejected(1).values())


port_ids = st.text(alphabet="0123456789x", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(port_ids, readings, max_size=12), min_size=1, max_size=30),
    st.lists(st.integers(1, 30), min_size=1, max_size=8),
    st.frozensets(port_ids, max_size=8),
)
def test_the_ledger_holds_only_the_strip_s_own_ports_whatever_the_usage_names(
    timeline: list[dict[str, float | None]], cuts: list[int], own: frozenset[str]
) -> None:
    """Invented port ids in any sample never enter the ledger; each reading of one after the mark
    is counted as `unknown_port` exactly once, however often overlapping windows repeat it."""
    pts = [
        UsageSample.model_validate(
            {
                "time": T0 + timedelta(seconds=i * SPACING),
                "ports": {p: {"active_power_w": w} for p, w in watts.items()},
            }
        )
        for i, watts in enumerate(timeline)
    ]
    book = fresh()
    start, newest = 0, -1
    marks: list[int] = []
    for cut in cuts:
        read = pts[start : start + cut]
        book.integrate(1, 7, read, ports=own)
        assert set(book.joules(1, 7)) <= own
        if read:
            newest = max(newest, start + len(read) - 1)
            marks.append(newest)
        start = max(0, start + cut // 2)
    # The first read only sets the mark; every sample after it up to the newest read is counted once.
    counted = pts[marks[0] + 1 : newest + 1]
    assert book.rejected(1)["unknown_port"] == sum(len(set(p.ports) - own) for p in counted)
