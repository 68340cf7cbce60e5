"""A misbehaving upstream on loopback that plays both vendors' paths well enough to be polled.

One server hosts every fault: the first path segment names the fault, so a DLI target's `url`
is `http://127.0.0.1:PORT/<fault>` (the client appends `/restapi/...`) and a CloudTrax target's
`base_url` is the same. Requests under `/restapi/` are answered as a DLI unit, anything else as
the CloudTrax API. Signatures and digest responses are not checked: the fake is about what an
upstream sends back, not about what it accepts.

`FAULTS` says, for every fault, which vendor plays it and what the exporter must make of it; the
hostile suite (`tests/test_hostile_upstreams.py`) and the soak script (`bench/soak.py`) both use it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

Vendor = Literal["dli", "cloudtrax"]

DLI_PASSWORD = "H0stile-Dli-Pa55-k3"
"""What DLI fault targets log in with; the `echo_secret` fault sends it back in its body."""
CLOUDTRAX_KEY = "c0ffee" * 10 + "beef"
CLOUDTRAX_SECRET = "5ecre7" * 10 + "cafe"
SECRETS = (DLI_PASSWORD, CLOUDTRAX_KEY, CLOUDTRAX_SECRET)

BIG_BODY_BYTES = 50 * 1024 * 1024
DEEP_NESTING = 100_000
DRIP_EVERY = 0.2
"""Seconds between the bytes of the slow drip."""


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    vendor: Vendor
    reason: str | None
    """The failure reason the exporter must count, or None when the answer is usable (target up)."""
    what: str


FAULTS: tuple[Fault, ...] = (
    Fault("hang_after_headers", "dli", "timeout", "200 and JSON headers, then nothing"),
    Fault("slow_drip", "dli", "timeout", f"200, then one byte every {DRIP_EVERY}s, forever"),
    Fault("big_body", "dli", "bad_response", "a 50 MB chunked body (no Content-Length)"),
    Fault("invalid_utf8", "dli", "bad_response", "JSON with bytes that are not UTF-8"),
    Fault("deep_nesting", "dli", "bad_response", f"{DEEP_NESTING} nested JSON arrays"),
    Fault("non_finite", "dli", None, "meter values NaN, Infinity, -Infinity and 1e999: holes, not samples"),
    Fault("huge_integer", "dli", "bad_response", "a meter value of 10^400"),
    Fault("duplicate_ids", "cloudtrax", None, "every strip and port listed twice: one series each"),
    Fault("html_200", "cloudtrax", "bad_response", "200 with an HTML login page"),
    Fault("close_mid_body", "dli", "connection", "Content-Length 4096, 100 bytes, then the socket closes"),
    Fault("bad_digest", "dli", "auth", "401 with a malformed Digest challenge"),
    Fault("redirect_loop", "dli", "http_status", "302 to itself, forever"),
    Fault("cross_host_redirect", "dli", "http_status", "302 to another host that would answer"),
    Fault("huge_retry_after", "cloudtrax", "rate_limited", "429 with Retry-After: 10^12 seconds"),
    Fault("superscript_retry_after", "dli", "rate_limited", "429 with Retry-After: ²"),
    Fault("echo_secret_dli", "dli", "http_status", "500 whose body echoes the password"),
    Fault("echo_secret_cloudtrax", "cloudtrax", "http_status", "500 whose error message echoes key and secret"),
    Fault(
        "echo_secret_cloudtrax_text",
        "cloudtrax",
        "http_status",
        "500 text body with the secret across the 80th byte",
    ),
)
FAULTS_BY_NAME = {f.name: f for f in FAULTS}

NETWORK_BASE = 9100
"""CloudTrax fault targets poll network NETWORK_BASE + their index in FAULTS (names must differ)."""

_HTML = "<!DOCTYPE html><html><head><title>Login</title></head><body><form>password</form></body></html>"


def network_of(fault: Fault) -> int:
    return NETWORK_BASE + FAULTS.index(fault)


# -- healthy documents ---------------------------------------------------------------


def dli_outlets() -> list[dict[str, object]]:
    return [
        {
            "name": f"Outlet {i + 1}",
            "state": i % 2 == 0,
            "transient_state": i % 2 == 0,
            "physical_state": i % 2 == 0,
            "locked": False,
            "critical": False,
            "cycle_delay": None,
        }
        for i in range(4)
    ]


def dli_meters(value: str = "120.0") -> str:
    """A meter map as JSON text, so a value can be a literal Python's json cannot write (NaN, 1e999)."""
    return '{"bus.0.voltage": {"name": "Bus 1 voltage", "quantity": "voltage", "bus": 0, "value": ' + value + "}}"


def _strip(strip_id: int, ports: int = 2) -> dict[str, object]:
    return {
        "powerstrip_id": strip_id,
        "name": f"strip {strip_id}",
        "mac": f"ac:86:74:00:00:{strip_id % 256:02x}",
        "model": "PS-1",
        "cloud_status": "up",
        "port_count": ports,
    }


def cloudtrax_doc(path: str, *, duplicate: bool = False) -> object:
    """A healthy CloudTrax answer for `path` (without the fault prefix); `duplicate` repeats every id."""
    twice = 2 if duplicate else 1
    if path.endswith("/list"):
        return {"powerstrips": [_strip(sid) for sid in (1, 2) for _ in range(twice)]}
    if path.endswith("/usage"):
        return {"usage": []}
    if path.endswith("/settings"):
        return {"enable_power_switch": True, "enable_mesh": False, "enable_upgrade": True, "firmware_tag": "stable"}
    if path.endswith("/firmware_versions"):
        return {"firmware_versions": [{"tag_id": "1", "tag": "stable", "build": "1.0"}]}
    if path == "/time":
        return {"time": "2026-01-01T00:00:00Z"}
    sid = int(path.rsplit("/", 1)[-1]) if path.rsplit("/", 1)[-1].isdigit() else 1
    ports = [{"port_id": pid, "label": f"port {pid}", "enable": True, "active_power_w": 10.0} for pid in (1, 2)]
    return {**_strip(sid), "ports": [p for p in ports for _ in range(twice)]}


# -- the server ----------------------------------------------------------------------


class HostileUpstream:
    """`async with HostileUpstream() as up:` then point targets at `up.url_for(fault)`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.hits: Counter[str] = Counter()
        """Requests per fault name (the first path segment), `landing` for followed cross-host redirects."""
        self.open: Counter[str] = Counter()
        """Requests per fault name being answered right now (a hanging one until the client gives up)."""
        self.peak_open: Counter[str] = Counter()
        """The most requests per fault name answered at once since the last `reset_peaks()`."""
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, fault: Fault | str) -> str:
        name = fault if isinstance(fault, str) else fault.name
        return f"{self.url}/{name}"

    async def __aenter__(self) -> HostileUpstream:
        app = web.Application()
        app.router.add_route("*", "/{fault}/{tail:.*}", self._handle)
        # A handler is cancelled when its client hangs up, so `open` counts only requests still held.
        self._runner = web.AppRunner(
            app, shutdown_timeout=1.0, handle_signals=False, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _idle(self, seconds: float) -> bool:
        """Sleep, but wake when the server closes; True if it is closing."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["fault"]
        tail = "/" + request.match_info["tail"]
        self.hits[name] += 1
        if name == "landing":
            return self._healthy(request, tail)
        handler = getattr(self, "_" + name, None)
        if name not in FAULTS_BY_NAME or handler is None:
            return web.Response(status=404, text="no such fault")
        self.open[name] += 1
        self.peak_open[name] = max(self.peak_open[name], self.open[name])
        try:
            response: web.StreamResponse = await handler(request, tail)
        except ConnectionError:  # the exporter hung up mid-answer, as it should
            response = web.StreamResponse()
        finally:
            self.open[name] -= 1
        return response

    def reset_peaks(self) -> None:
        self.peak_open = Counter(self.open)

    def _healthy(self, request: web.Request, tail: str) -> web.Response:
        if tail.startswith("/restapi/"):
            if tail.startswith("/restapi/relay/outlets/"):
                return web.json_response(dli_outlets())
            if tail.startswith("/restapi/meter/values/"):
                return web.Response(text=dli_meters(), content_type="application/json")
            if tail.startswith("/restapi/script/threads/"):
                return web.json_response({})
            return web.json_response("x")
        return web.json_response(cloudtrax_doc(tail))

    # -- faults (one method per name in FAULTS) ----------------------------------------

    async def _hang_after_headers(self, request: web.Request, tail: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await self._idle(3600)  # cancelled when the client gives up (handler_cancellation)
        return resp

    async def _slow_drip(self, request: web.Request, tail: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b"[")
        for _ in range(100_000):
            if await self._idle(DRIP_EVERY):
                break
            await resp.write(b" ")
        return resp

    async def _big_body(self, request: web.Request, tail: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        chunk = b" " * (256 * 1024)
        await resp.write(b'["')
        for _ in range(BIG_BODY_BYTES // len(chunk)):
            if self._closing.is_set():
                break
            await resp.write(chunk)  # raises once the client has hung up, which ends the handler
        await resp.write(b'"]')
        return resp

    async def _invalid_utf8(self, request: web.Request, tail: str) -> web.Response:
        body = b'[{"name": "Outlet \xff\xfe\xc3", "state": true}]'
        return web.Response(body=body, content_type="application/json")

    async def _deep_nesting(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(body=b"[" * DEEP_NESTING + b"]" * DEEP_NESTING, content_type="application/json")

    async def _non_finite(self, request: web.Request, tail: str) -> web.Response:
        if tail.startswith("/restapi/meter/values/"):
            text = (
                '{"bus.0.voltage": {"quantity": "voltage", "bus": 0, "value": NaN},'
                ' "bus.0.current": {"quantity": "current", "bus": 0, "value": Infinity},'
                ' "bus.0.total_energy": {"quantity": "energy", "bus": 0, "value": -Infinity},'
                ' "internal_temperature": {"quantity": "temperature", "value": 1e999}}'
            )
            return web.Response(text=text, content_type="application/json")
        return self._healthy(request, tail)

    async def _huge_integer(self, request: web.Request, tail: str) -> web.Response:
        if tail.startswith("/restapi/meter/values/"):
            return web.Response(text=dli_meters("1" + "0" * 400), content_type="application/json")
        return self._healthy(request, tail)

    async def _duplicate_ids(self, request: web.Request, tail: str) -> web.Response:
        return web.json_response(cloudtrax_doc(tail, duplicate=True))

    async def _html_200(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(text=_HTML, content_type="text/html")

    async def _close_mid_body(self, request: web.Request, tail: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "4096"})
        await resp.prepare(request)
        await resp.write(b'[{"name": "Outlet 1", "state": true}, ' + b" " * 62)
        if request.transport is not None:
            request.transport.close()
        return resp

    async def _bad_digest(self, request: web.Request, tail: str) -> web.Response:
        challenge = 'Digest realm="unit, nonce=,, qop="auth-int,,,", algorithm=ROT13, opaque'
        return web.Response(status=401, text="401 Unauthorized\n", headers={"WWW-Authenticate": challenge})

    async def _redirect_loop(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(status=302, headers={"Location": request.path})

    async def _cross_host_redirect(self, request: web.Request, tail: str) -> web.Response:
        other = "localhost" if self.host != "localhost" else "127.0.0.1"
        return web.Response(status=302, headers={"Location": f"http://{other}:{self.port}/landing{tail}"})

    async def _huge_retry_after(self, request: web.Request, tail: str) -> web.Response:
        body = {"errors": [{"code": 429, "message": "slow down"}]}
        return web.json_response(body, status=429, headers={"Retry-After": "1000000000000"})

    async def _superscript_retry_after(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(status=429, text="slow down\n", headers={"Retry-After": "²"})

    async def _echo_secret_dli(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(status=500, text=f"internal error: login admin/{DLI_PASSWORD} failed\n")

    async def _echo_secret_cloudtrax(self, request: web.Request, tail: str) -> web.Response:
        # The secret starts before and ends after the 80th character of the message, where texts are cut.
        message = "x" * 60 + CLOUDTRAX_SECRET + " key " + CLOUDTRAX_KEY
        body = {"errors": [{"code": 500, "message": message, "context": CLOUDTRAX_SECRET}]}
        return web.Response(status=500, text=json.dumps(body), content_type="application/json")

    async def _echo_secret_cloudtrax_text(self, request: web.Request, tail: str) -> web.Response:
        return web.Response(status=500, text="y" * 60 + CLOUDTRAX_SECRET + "\n")


def fault_targets(upstream: HostileUpstream, faults: tuple[Fault, ...] | list[Fault]) -> list[dict[str, object]]:
    """Config `targets[]` entries polling `faults` on `upstream`."""
    entries: list[dict[str, object]] = []
    for fault in faults:
        if fault.vendor == "dli":
            entries.append(
                {
                    "source": "dli",
                    "name": fault.name,
                    "url": upstream.url_for(fault),
                    "username": "admin",
                    "password": DLI_PASSWORD,
                }
            )
        else:
            entries.append(
                {
                    "source": "cloudtrax",
                    "name": fault.name,
                    "key": CLOUDTRAX_KEY,
                    "secret": CLOUDTRAX_SECRET,
                    "base_url": upstream.url_for(fault),
                    "networks": [network_of(fault)],
                }
            )
    return entries


def target_of(fault: Fault) -> str:
    """The `target` label of the fault's target (a CloudTrax target is named by its network id)."""
    return fault.name if fault.vendor == "dli" else str(network_of(fault))
