"""Shared pytest setup. Per-area fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as _aioresponses_core

# aioresponses 0.7.x builds ClientResponse without the `stream_writer` argument that
# aiohttp 3.14 requires (pnuckowski/aioresponses#289). Supply a dummy one.
if "stream_writer" in aiohttp.ClientResponse.__init__.__code__.co_varnames:

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, method: str, url: Any, *, stream_writer: Any = None, **kw: Any) -> None:
            super().__init__(method, url, stream_writer=stream_writer or SimpleNamespace(output_size=0), **kw)

    _aioresponses_core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
