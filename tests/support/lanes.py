"""The two test lanes: `process` tests start a process; every other test is in the fast lane.

A test is a `process` test when its file is named `*_process.py`, it lives under `tests/e2e/`, it
uses a fixture decorated with `@starts_processes`, or it is marked `@pytest.mark.process`. The
marking is automatic so that nobody has to remember it; the fast lane is `pytest -m "not process"`.

A misclassified test cannot hide in the fast lane: a test that is not a `process` test fails when it
(or a fixture it sets up) starts a process of any kind (the exporter, promtool, a fresh interpreter),
naming itself and saying how to classify it. In-process servers on loopback (the simulators, an
aiohttp app) are not processes and stay in the fast lane.

For parallel runs (pytest-xdist, `--dist loadgroup`): tests that share processes through a fixture
wider than one test form one xdist group, so they run on one worker and the processes start once;
and the collection is ordered longest first (tests marked `slow_e2e` or declaring a timeout above the
suite's, then groups, then other process tests, then the fast lane) so that the long tests overlap the
rest instead of ending the run.
"""

from __future__ import annotations

import _posixsubprocess
import inspect
import os
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import pytest

PROCESS = "process"
SLOW_E2E = "slow_e2e"
_PROCESS_FIXTURE = "__starts_processes__"
_TESTS = Path(__file__).resolve().parent.parent

F = TypeVar("F", bound=Callable[..., Any])


def starts_processes(fixture_function: F) -> F:
    """Mark a fixture as one that starts processes: every test using it (even indirectly) is a `process` test.

    Put it under `@pytest.fixture`.
    """
    setattr(fixture_function, _PROCESS_FIXTURE, True)
    return fixture_function


def is_process_test(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    if path.name.endswith("_process.py") or (_TESTS / "e2e") in path.parents:
        return True
    if item.get_closest_marker(PROCESS) is not None or item.get_closest_marker(SLOW_E2E) is not None:
        return True
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return False
    return any(getattr(d.func, _PROCESS_FIXTURE, False) for defs in fixtures.name2fixturedefs.values() for d in defs)


class MisclassifiedProcessTest(RuntimeError):
    pass


@contextmanager
def _no_processes(nodeid: str) -> Iterator[None]:
    """Make every way of starting a process raise for the duration of one test phase."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise MisclassifiedProcessTest(
            f"{nodeid} starts a process but is in the fast lane: name its file *_process.py, move it under "
            "tests/e2e/, mark it @pytest.mark.process, or start the process in a fixture marked @starts_processes"
        )

    patches: list[tuple[Any, str, Any]] = [
        (subprocess.Popen, "_execute_child", refuse),  # subprocess.*, asyncio subprocesses, os.popen
        (_posixsubprocess, "fork_exec", refuse),  # multiprocessing's spawn and forkserver
        *((os, name, refuse) for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{PROCESS}: starts a process (set automatically, see tests/support/lanes.py); the fast lane "
        f'is -m "not {PROCESS}"',
    )
    config.addinivalue_line(
        "markers", f"{SLOW_E2E}: a long end-to-end test (the shipped intervals); a process test, scheduled first"
    )


def shared_process_fixture(item: pytest.Item) -> str | None:
    """The widest-scoped fixture above function scope that holds processes for this test and others, if any.

    Such a fixture is one marked `@starts_processes`, or a fixture with a teardown (it yields: it has
    processes to stop) defined under tests/e2e/ or in a `*_process.py` file. Under xdist every test that
    shares it runs on one worker, so the processes start once. A plain wide fixture there (a path, a
    clone) is cheap to make once per worker, and grouping its tests would only run them one by one.
    """
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return None
    found: tuple[int, str] | None = None
    for defs in fixtures.name2fixturedefs.values():
        fixture = defs[-1]  # the definition that applies to this test
        if fixture.scope not in _WIDE_SCOPES:
            continue
        location = str(fixture.baseid)
        held = getattr(fixture.func, _PROCESS_FIXTURE, False) or (
            _is_process_location(location) and _has_teardown(fixture.func)
        )
        rank = _WIDE_SCOPES.index(fixture.scope)
        if held and (found is None or rank < found[0]):
            found = (rank, f"{location}::{fixture.argname}")
    return None if found is None else found[1]


_WIDE_SCOPES = ("session", "package", "module", "class")


def _has_teardown(func: Callable[..., Any]) -> bool:
    return inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)


def _is_process_location(nodeid: str) -> bool:
    path = nodeid.split("::")[0]
    return path == "tests/e2e" or path.startswith("tests/e2e/") or path.endswith("_process.py")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker, and before xdist reads `xdist_group`
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        default_timeout = _timeout(config.getini("timeout"))  # pytest-timeout's, from pyproject.toml
    except ValueError:  # pytest-timeout is not installed
        default_timeout = 0.0
    order: dict[str, tuple[int, float]] = {}
    group_of: dict[str, str] = {}
    for item in items:
        if is_process_test(item) and item.get_closest_marker(PROCESS) is None:
            item.add_marker(PROCESS)
        group = shared_process_fixture(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            group_of[item.nodeid] = group
        declared = _declared_timeout(item)
        long = item.get_closest_marker(SLOW_E2E) is not None or declared > default_timeout > 0
        own = (0 if long else 1 if group else 2 if item.get_closest_marker(PROCESS) else 3, -declared)
        key = group or item.nodeid
        order[key] = min(own, order.get(key, own))
    # Longest first, so that under xdist the long tests overlap everything else instead of starting last:
    # the long ones (`slow_e2e`, or a test that declares a timeout above the suite's), longest declared
    # first; then tests that share processes (a group runs on one worker, one test after another); then
    # the other process tests; then the fast lane. The sort is stable: each file keeps its order, and a
    # group's tests stay together (at the best place among them).
    items.sort(key=lambda i: order[group_of.get(i.nodeid, i.nodeid)])


def _declared_timeout(item: pytest.Item) -> float:
    """The test's own `@pytest.mark.timeout(seconds)`, or 0."""
    marker = item.get_closest_marker("timeout")
    if marker is None:
        return 0.0
    return _timeout(marker.args[0] if marker.args else marker.kwargs.get("timeout"))


def _timeout(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with _guard(item):
        return (yield)


def _guard(item: pytest.Item) -> AbstractContextManager[None]:
    return nullcontext() if item.get_closest_marker(PROCESS) is not None else _no_processes(item.nodeid)
