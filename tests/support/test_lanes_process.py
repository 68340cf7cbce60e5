"""The lanes plugin (tests/support/lanes.py) on small suites of its own: what it marks, what it refuses,
how it groups and orders. A process test itself: the suites it runs start processes on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

LANES = ("-p", "tests.support.lanes", "-p", "no:cacheprovider", "-p", "no:asyncio")

CONFTEST = """
import subprocess, sys
import pytest
from tests.support.lanes import starts_processes

@pytest.fixture
@starts_processes
def tool():
    return sys.executable

@pytest.fixture(scope="module")
@starts_processes
def shared_server():
    return subprocess.run([sys.executable, "-c", "pass"], check=True).returncode
"""

RUN = "import subprocess, sys\n\n\ndef run():\n    subprocess.run([sys.executable, '-c', 'pass'], check=True)\n\n\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\ntimeout = 180\n")  # the default a long test declares more than
    pytester.makepyfile(
        test_plain=RUN + "def test_pure():\n    assert 1 + 1 == 2\n\n\ndef test_hidden_process():\n    run()\n",
        test_marked=RUN + "import pytest\n\n\n@pytest.mark.process\ndef test_marked():\n    run()\n",
        test_server_process=RUN + "import pytest\n\n\n@pytest.fixture(scope='module')\ndef server():\n"
        "    yield run()\n\n\n@pytest.fixture(scope='module')\ndef workdir(tmp_path_factory):\n"
        "    return tmp_path_factory.mktemp('w')\n\n\ndef test_in_a_process_file():\n    run()\n\n\n"
        "def test_with_server(server):\n    pass\n\n\ndef test_with_workdir(workdir):\n    run()\n",
        test_fixture=RUN + "def test_uses_tool(tool):\n    run()\n\n\ndef test_uses_shared(shared_server):\n    pass\n"
        "\n\ndef test_uses_shared_too(shared_server):\n    pass\n",
        test_slow=RUN + "import pytest\n\n\n@pytest.mark.slow_e2e\ndef test_long():\n    run()\n\n\n"
        "@pytest.mark.timeout(600)\ndef test_declared_long():\n    pass\n",
    )
    return pytester


def test_a_process_hidden_in_the_fast_lane_fails_naming_the_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess(*LANES, "-m", "not process")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*MisclassifiedProcessTest: test_plain.py::test_hidden_process starts a process but is in the fast lane*"]
    )


def test_process_tests_are_marked_by_file_name_marker_and_fixture(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess(*LANES, "-m", "process", "-v")
    result.assert_outcomes(passed=8, deselected=3)


def test_a_fixture_that_starts_a_process_is_refused_to_a_fast_test(pytester: pytest.Pytester) -> None:
    """A process started while a fast test sets up its fixtures counts as that test's."""
    pytester.makepyfile(
        test_setup="import subprocess, sys, pytest\n\n\n@pytest.fixture\ndef server():\n"
        "    subprocess.run([sys.executable, '-c', 'pass'])\n\n\ndef test_fast(server):\n    pass\n"
    )
    result = pytester.runpytest_inprocess(*LANES)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*MisclassifiedProcessTest: test_setup.py::test_fast starts a process*"])


def test_shared_process_fixtures_group_their_tests_and_the_longest_come_first(suite: pytest.Pytester) -> None:
    [call] = suite.inline_run(*LANES, "--collect-only").getcalls("pytest_collection_modifyitems")
    items = call.items
    order = [item.name for item in items]
    assert order[:2] == ["test_declared_long", "test_long"], "long tests first: a declared timeout over the default"
    assert order[2:5] == ["test_uses_shared", "test_uses_shared_too", "test_with_server"], "then the groups"
    assert set(order[5:9]) == {"test_marked", "test_in_a_process_file", "test_uses_tool", "test_with_workdir"}
    assert set(order[9:]) == {"test_pure", "test_hidden_process"}, "the fast lane last"
    groups = {item.name: [m.args[0] for m in item.iter_markers("xdist_group")] for item in items}
    [group] = groups["test_uses_shared"]
    assert groups["test_uses_shared_too"] == [group] and group.endswith("::shared_server")
    assert groups["test_uses_tool"] == [], "a function-scoped fixture is not shared"
    assert groups["test_with_server"] == ["test_server_process.py::server"], "a wide fixture with a teardown is"
    assert groups["test_with_workdir"] == [], "a wide fixture without one (a directory) is made once per worker"


def test_under_xdist_a_shared_process_fixture_starts_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The groups reach pytest-xdist's scheduler: every test of a shared fixture runs on one worker, so its
    processes start once (a pytest that xdist cannot group under would start them once per worker)."""
    log = pytester.path / "setups.txt"
    pytester.makepyfile(
        test_group=f"""
import os, pytest
from tests.support.lanes import starts_processes

def record(what):
    with open({str(log)!r}, "a") as f:
        f.write(what + " " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.fixture(scope="module")
@starts_processes
def shared():
    record("setup")

@pytest.mark.parametrize("n", range(6))
def test_shares(shared, n):
    record("test")

@pytest.mark.parametrize("n", range(6))
def test_alone(n):
    pass
"""
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess(*LANES, "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=12)
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines].count("setup") == 1, lines
    assert len({line.split()[1] for line in lines}) == 1, f"the group ran on more than one worker: {lines}"
