"""A loopback fake that stands between the exporter and a simulator and, on demand, answers with
errors that echo credentials: what it received (the Authorization header, decoded when it is Basic)
and what the test tells it the secrets are. Upstreams do this (debug pages, error envelopes that
quote the request), and the exporter must not pass any of it on.

In `pass` mode requests go through to the simulator unchanged (signatures and digests stay valid:
the path and headers are the same), so a target can be healthy first and then start echoing.
"""

from __future__ import annotations

import base64
import json
from types import TracebackType
from typing import Literal

import aiohttp
from aiohttp import web

Mode = Literal["pass", "status", "auth", "html", "bad_json", "straddle", "straddle_error", "envelope"]
SNIPPET = 80
"""Where the exporter cuts upstream text for a message; `straddle` puts a secret across it."""

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class EchoingUpstream:
    def __init__(self, upstream_url: str, secrets: list[str]) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.secrets = secrets
        self.mode: Mode = "pass"
        self.write_mode: Mode | None = None
        """When set, writes are answered in this mode, whatever `mode` says (see `is_write`)."""
        self.echoed = 0
        self.name_echo: str | None = None
        """When set, every `name` field of a passed-through JSON answer becomes this text."""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> EchoingUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def echo_text(self, request: web.Request) -> str:
        """Everything secret this request carried or the test named, in one line."""
        received = request.headers.get("Authorization", "")
        parts = [received]
        if received.lower().startswith("basic "):
            parts.append(base64.b64decode(received[6:]).decode("utf-8", "replace"))
        return " ".join([*parts, *self.secrets])

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        mode = self.write_mode if self.write_mode is not None and is_write(request) else self.mode
        if mode == "pass":
            return await self._forward(request)
        self.echoed += 1
        echo = self.echo_text(request)
        if mode == "status":
            return web.Response(status=500, text=f"internal error while handling {echo}")
        if mode == "auth":
            return web.json_response(_envelope(13001, f"bad credentials: {echo}"), status=401)
        if mode == "envelope":
            return web.json_response(_envelope(1001, f"not permitted for {echo}"), status=403)
        if mode == "html":
            return web.Response(status=200, text=f"<html><body>debug: {echo}</body></html>", content_type="text/html")
        if mode == "bad_json":
            return web.Response(status=200, text='{"debug": "' + echo + '", ', content_type="application/json")
        # straddle: each secret in turn across the cut of a malformed answer (or of a 500's body)
        secret = self.secrets[self.echoed % len(self.secrets)]
        head = '{"x": "' + "a" * (SNIPPET - 16 - len('{"x": "'))  # 16 characters before the cut
        status = 500 if mode == "straddle_error" else 200
        return web.Response(status=status, text=head + secret + '" ,,', content_type="application/json")

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream_url + request.path_qs, headers=headers, data=body or None
        ) as resp:
            data = await resp.read()
            if self.name_echo is not None and resp.content_type == "application/json":
                data = json.dumps(_rename(json.loads(data), self.name_echo)).encode()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=resp.status, body=data, headers=out)


def is_write(request: web.Request) -> bool:
    """DLI writes are POST/PUT; CloudTrax reboots and port resets are GETs."""
    return request.method != "GET" or request.path.endswith(("/reboot", "/reset"))


def _rename(data: object, name: str) -> object:
    if isinstance(data, dict):
        return {k: (name if k == "name" and isinstance(v, str) else _rename(v, name)) for k, v in data.items()}
    if isinstance(data, list):
        return [_rename(item, name) for item in data]
    return data


def _envelope(code: int, message: str) -> dict[str, object]:
    return {"errors": [{"code": code, "message": message, "context": message, "values": {"echo": message}}]}


def pieces(secret: str, length: int = 8) -> set[str]:
    return {secret[i : i + length] for i in range(len(secret) - length + 1)}


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The 8-character pieces of `secrets` that appear in `text` (empty when nothing leaked)."""
    return sorted({p for s in secrets for p in pieces(s) if p in text})
