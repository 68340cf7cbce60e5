"""The energy ledger saved and loaded: exact continuation, validation of what is loaded, cheap saves."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.energy_store import STATE_KIND, STATE_VERSION, EnergyStore, parse_state
from exporter.sources.cloudtrax.models import UsageSample

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = (T0 + timedelta(days=1)).timestamp()


def ledger() -> EnergyLedger:
    return EnergyLedger(wall_clock=lambda: NOW, started=NOW)


def window(first: int, last: int, watts: float = 10.0) -> list[UsageSample]:
    return [
        UsageSample.model_validate({"time": T0 + timedelta(seconds=300 * i), "ports": {"1": {"active_power_w": watts}}})
        for i in range(first, last + 1)
    ]


async def test_a_restarted_store_continues_exactly(tmp_path: Path) -> None:
    store = EnergyStore(ledger(), tmp_path)
    store.load()
    store.ledger.integrate(1, 7, window(0, 5))
    store.ledger.integrate(1, 7, window(2, 9))
    await store.flush()
    assert not store.unsaved
    counted = store.ledger.joules(1, 7)["1"]
    assert counted == 4 * 10.0 * 300

    restarted = EnergyStore(ledger(), tmp_path)
    restarted.load()
    assert restarted.ledger.joules(1, 7) == {"1": counted}
    restarted.ledger.integrate(1, 7, window(5, 12))  # the window overlaps what was counted before
    assert restarted.ledger.joules(1, 7)["1"] == counted + 3 * 10.0 * 300


async def test_saves_only_when_changed(tmp_path: Path) -> None:
    store = EnergyStore(ledger(), tmp_path)
    store.ledger.integrate(1, 7, window(0, 5))
    await store.flush()
    written = store.file.path.stat().st_mtime_ns if store.file else 0
    store.ledger.integrate(1, 7, window(0, 5))  # nothing new
    assert not store.unsaved
    store.request_save()
    await store.flush()
    assert store.file is not None and store.file.path.stat().st_mtime_ns == written


async def test_saves_run_in_the_background_one_at_a_time_and_the_newest_state_wins(tmp_path: Path) -> None:
    store = EnergyStore(ledger(), tmp_path)
    writes: list[int] = []
    real = store._write

    def counting(revision: int, data: Any) -> bool:
        writes.append(revision)
        return real(revision, data)

    store._write = counting  # type: ignore[method-assign]
    store.ledger.integrate(1, 7, window(0, 5))
    store.request_save()  # returns at once; the write runs in a worker thread
    for last in range(6, 16):  # polls that change the ledger while the first write is in flight
        store.ledger.integrate(1, 7, window(0, last))
        store.request_save()
    await store.flush()
    assert 1 <= len(writes) <= 3
    assert not store.unsaved
    reloaded = EnergyStore(ledger(), tmp_path)
    reloaded.load()
    assert reloaded.ledger.joules(1, 7) == store.ledger.joules(1, 7)


async def test_a_failing_disk_costs_no_poll_and_is_retried(tmp_path: Path) -> None:
    blocked = tmp_path / "gone"
    blocked.mkdir()
    store = EnergyStore(ledger(), blocked)
    blocked.rmdir()  # the directory vanished: every write fails
    store.ledger.integrate(1, 7, window(0, 5))
    with capture_logs() as logs:
        store.request_save()
        await store.flush()
        assert store.unsaved
        blocked.mkdir()
        store.request_save()
        await store.flush()
    assert not store.unsaved
    assert [e["event"] for e in logs] == ["cannot write state file", "state file written again"]


def saved(strips: list[dict[str, Any]]) -> dict[str, Any]:
    return {"strips": strips}


GOOD = {"network_id": 1, "powerstrip_id": 7, "high_water": T0.timestamp(), "spacing": 300.0, "joules": {"1": 5.0}}


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "joules": {"1": -1.0}},
        {**GOOD, "joules": {"1": math.inf}},
        {**GOOD, "joules": {"1": math.nan}},
        {**GOOD, "high_water": math.nan},
        {**GOOD, "spacing": 0.0},
        {**GOOD, "network_id": True},
        {**GOOD, "network_id": "1"},
        {**GOOD, "extra": 1},
        {k: v for k, v in GOOD.items() if k != "joules"},
    ],
)
def test_saved_state_is_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_state(saved([bad]), now=NOW)


def test_the_same_strip_twice_is_invalid() -> None:
    with pytest.raises(ValueError):
        parse_state(saved([GOOD, GOOD]), now=NOW)


def test_a_mark_in_the_future_keeps_the_joules_and_resyncs() -> None:
    future = {**GOOD, "high_water": NOW + 86_400 * 365}
    book = ledger()
    book.restore(parse_state(saved([future]), now=NOW))
    assert book.joules(1, 7) == {"1": 5.0}
    book.integrate(1, 7, window(0, 5))  # taken as a first read: sets the mark, counts nothing
    assert book.joules(1, 7) == {"1": 5.0}
    book.integrate(1, 7, window(0, 7))
    assert book.joules(1, 7) == {"1": 5.0 + 2 * 10.0 * 300}  # counting, not frozen


def test_a_corrupt_file_is_one_warning_and_a_clean_start(tmp_path: Path) -> None:
    path = tmp_path / f"{STATE_KIND}.json"
    path.write_text(json.dumps({"kind": STATE_KIND, "version": STATE_VERSION, "data": saved([{**GOOD, "joules": 3}])}))
    store = EnergyStore(ledger(), tmp_path)
    with capture_logs() as logs:
        store.load()
    assert [e["event"] for e in logs] == ["state file unusable, starting clean"]
    assert store.ledger.joules(1, 7) == {}


@pytest.mark.parametrize("mark", [0.0, -1e308, NOW - 36 * 86_400], ids=["zero", "far_past", "older_than_any_window"])
def test_a_mark_older_than_any_usage_window_keeps_the_joules_and_recounts_nothing(mark: float) -> None:
    """A mark of 0 or -1e308 once made the next read count its whole window as new energy."""
    with capture_logs() as logs:
        restored = parse_state(saved([{**GOOD, "high_water": mark}]), now=NOW)
    assert [(e["event"], e["strips"]) for e in logs] == [("saved energy state not trusted for some strips", 1)]
    book = ledger()
    book.restore(restored)
    book.integrate(1, 7, window(0, 20))  # the window after the restart: taken as a first read
    assert book.joules(1, 7) == {"1": 5.0}
    book.integrate(1, 7, window(0, 22))
    assert book.joules(1, 7) == {"1": 5.0 + 2 * 10.0 * 300}


def test_a_mark_within_the_longest_usage_window_is_trusted() -> None:
    with capture_logs() as logs:
        restored = parse_state(saved([{**GOOD, "high_water": NOW - 30 * 86_400}]), now=NOW)
    assert not logs and not restored[(1, 7)].resync


def test_a_counter_no_port_could_have_counted_drops_only_that_strip() -> None:
    other = {**GOOD, "powerstrip_id": 8}
    with capture_logs() as logs:
        restored = parse_state(saved([{**GOOD, "joules": {"1": 1e300}}, other]), now=NOW)
    assert set(restored) == {(1, 8)}
    assert len(logs) == 1 and "counter larger" in logs[0]["problem"]


def test_saved_counters_of_ports_the_strip_does_not_list_go_at_its_first_read() -> None:
    book = ledger()
    book.restore(
        parse_state(saved([{**GOOD, "joules": {"1": 5.0, **{str(i): 1.0 for i in range(100, 90_106)}}}]), now=NOW)
    )
    revision = book.revision
    with capture_logs() as logs:
        book.integrate(1, 7, window(0, 5), ports={"1", "2"})
    assert book.joules(1, 7) == {"1": 5.0 + 5 * 10.0 * 300}
    assert book.revision > revision  # so the trimmed state is saved
    assert [(e["event"], e["dropped"], e["kept"]) for e in logs] == [
        ("energy counters of ports the strip does not list dropped", 90_006, 1)
    ]
