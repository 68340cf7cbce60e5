"""Shared pytest setup. Per-area fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as _aioresponses_core
import pytest

from exporter.buildinfo import build_info
from exporter.redaction import SECRETS
from tests.support.process import LOG_FILES

pytest_plugins = ["tests.support.lanes"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Read the build info (it asks git, once per process) before any test: an in-process daemon is no process."""
    build_info()


# Every credential the suite hands to an exporter process. None may ever reach its logs.
SUITE_SECRETS = (
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",  # CloudTrax test secret
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  # CloudTrax test key
    "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e7abcd",  # a wrong CloudTrax secret
    "s3cr3t-Pa55w0rd",  # DLI test password
    "dli-pass-7q2w",  # DLI password in the action tests
    "admin-token-9f8e7d6c5b4a",  # action tokens
    "narrow-token-0a1b2c3d",
    "expired-token-from-file",
    "hunter2-secret",
)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_exporter_log() -> Iterator[None]:
    """After the whole session: no secret appears in any exporter process log."""
    yield
    leaks = []
    for path in LOG_FILES:
        if path.exists():
            text = path.read_text(errors="replace")
            leaks += [f"{path.name}: {secret[:6]}..." for secret in SUITE_SECRETS if secret in text]
    assert not leaks, f"secrets found in exporter logs: {leaks}"


@pytest.fixture(autouse=True)
def _secrets_registered_by_one_test_stay_with_it() -> Iterator[None]:
    """The secret registry is process-wide: a password one test configures would otherwise be redacted
    from the messages another test compares."""
    state = SECRETS.snapshot()
    yield
    SECRETS.restore(state)


# aioresponses 0.7.x builds ClientResponse without the `stream_writer` argument that
# aiohttp 3.14 requires (pnuckowski/aioresponses#289). Supply a dummy one.
if "stream_writer" in aiohttp.ClientResponse.__init__.__code__.co_varnames:

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, method: str, url: Any, *, stream_writer: Any = None, **kw: Any) -> None:
            super().__init__(method, url, stream_writer=stream_writer or SimpleNamespace(output_size=0), **kw)

    _aioresponses_core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
