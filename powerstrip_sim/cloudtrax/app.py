"""The CloudTrax simulator: a real aiohttp server with the API, auth, faults and a control API.

    async with CloudTraxSimulator(strips=10, networks=2) as sim:
        client = CloudTraxClient(sim.key, sim.secret, base_url=sim.url)
        sim.set_fault("http_5xx", network_id=100001)
        sim.request_counts()["GET /powerstrip/{powerstrip_id}"]

The control API under `/_sim/` is unauthenticated; the server binds to
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import secrets
import ssl
import time
from collections import Counter
from types import TracebackType
from typing import Any

from aiohttp import web

from exporter.sources.cloudtrax import endpoints as ep
from powerstrip_sim.cloudtrax.auth import Authenticator, SimKey
from powerstrip_sim.cloudtrax.errors import SimApiError, missing_parameter
from powerstrip_sim.cloudtrax.faults import ActiveFaults, Fault, FaultKind, FaultTable, fault_from_json
from powerstrip_sim.cloudtrax.options import SimulatorOptions
from powerstrip_sim.cloudtrax.state import FleetState, iso_seconds
from powerstrip_sim.request_ledger import RequestLedger, parse_before

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>"
    b"<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>\n"
)
MALFORMED_JSON = b'{"powerstrips": [{"powerstrip_id": 1, "name": "trunc'
SIM_KEY = web.RequestKey("sim_key", SimKey)
SIM_BODY = web.RequestKey("sim_body", bytes)


class CloudTraxSimulator:
    """In-process CloudTrax API on a real socket (127.0.0.1, port 0 = any free port)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strips: int = 0,
        networks: int = 1,
        seed: int = 1,
        seed_payloads: bool = False,
        key: str | None = None,
        secret: str | None = None,
        latency: float = 0.0,
        clock_offset: float = 0.0,
        options: SimulatorOptions | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self.port = port
        self.options = options or SimulatorOptions()
        self.latency = latency
        """Seconds added to every API request (0 by default)."""
        self.clock_offset = clock_offset
        """Seconds the server's clock is ahead of this machine's (tests use it for skew)."""
        self.state = FleetState(self.options)
        self.faults = FaultTable()
        self.auth = Authenticator(self.options)
        self.key = key or secrets.token_hex(32)
        self.secret = secret or secrets.token_hex(32)
        self.auth.add_key(SimKey(self.key, self.secret))
        self.arrivals = RequestLedger()
        """API requests by endpoint template, with arrival times, so counts can also be cut at an instant."""
        self.by_path: Counter[str] = Counter()
        self._tokens = float(self.options.rate_limit_burst)
        self._tokens_at = time.monotonic()
        self._runner: web.AppRunner | None = None
        now = self.now()
        if seed_payloads:
            self.state.load_seed(now)
        self.state.build_fleet(strips, networks, now, seed)

    # -- lifecycle -----------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> CloudTraxSimulator:
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> CloudTraxSimulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- Python control API --------------------------------------------------

    def add_key(
        self, key: str, secret: str, *, network_id: int | None = None, expires_at: float | None = None
    ) -> SimKey:
        """Another key: a network key when `network_id` is set; expired once `expires_at` passes."""
        sim_key = SimKey(key, secret, network_id, expires_at)
        self.auth.add_key(sim_key)
        return sim_key

    def set_fault(
        self,
        kind: FaultKind,
        *,
        network_id: int | None = None,
        powerstrip_id: int | None = None,
        seconds: float = 0.0,
        status: int | None = None,
        retry_after: float = 30.0,
    ) -> None:
        """Switch a fault on for one strip, one network (incl. its strips) or, with neither, everything."""
        fault = Fault(kind, seconds=seconds, status=status, retry_after=retry_after)
        self.faults.set(fault, network_id=network_id, powerstrip_id=powerstrip_id)

    def clear_faults(
        self, *, network_id: int | None = None, powerstrip_id: int | None = None, kind: str | None = None
    ) -> None:
        self.faults.clear(network_id=network_id, powerstrip_id=powerstrip_id, kind=kind)

    def request_counts(self) -> dict[str, int]:
        """API requests received, by endpoint template (`GET /powerstrip/{powerstrip_id}`)."""
        return self.arrivals.counts()

    def path_counts(self) -> dict[str, int]:
        """API requests received, by method and concrete path (`GET /powerstrip/7`), query excluded."""
        return dict(self.by_path)

    def reset_counts(self) -> None:
        self.arrivals.clear()
        self.by_path.clear()

    def set_strip_online(self, powerstrip_id: int, online: bool) -> None:
        self.state.set_online(powerstrip_id, online, self.now())

    # -- HTTP ----------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 20)
        app.on_response_prepare.append(self._date_header)
        r = app.router
        add = r.add_route
        add("GET", "/time", self._time)
        add("GET", "/network/list", self._network_list)
        n = r"/powerstrip/network/{network_id:\d+}"
        s = r"/powerstrip/{powerstrip_id:\d+}"
        add("GET", n + "/list", self._list)
        add("POST", n, self._create)
        add("GET", s, self._get)
        add("PUT", s, self._update)
        add("DELETE", s, self._delete)
        add("GET", s + "/usage", self._usage)
        add("GET", s + "/checkin", self._checkin)
        add("GET", s + "/reboot", self._reboot)
        add("GET", s + "/enable_pairing", self._pairing)
        add("GET", s + r"/port/{port_id:\d+}/reset", self._reset_port)
        add("GET", n + "/settings", self._settings)
        add("PUT", n + "/settings", self._update_settings)
        add("GET", n + "/expedite_upgrade", self._expedite)
        add("GET", n + "/firmware_versions", self._firmware)
        add("GET", "/_sim/faults", self._sim_faults)
        add("POST", "/_sim/faults", self._sim_set_fault)
        add("DELETE", "/_sim/faults", self._sim_clear_faults)
        add("GET", "/_sim/requests", self._sim_requests)
        add("DELETE", "/_sim/requests", self._sim_reset_requests)
        add("POST", r"/_sim/strips/{powerstrip_id:\d+}/status", self._sim_strip_status)
        add("GET", "/_sim/state", self._sim_state)
        return app

    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        """The Date header follows the simulated clock, so clients can resync from it too."""
        response.headers["Date"] = email.utils.formatdate(self.now(), usegmt=True)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            response: web.StreamResponse = await handler(request)
            return response
        known = request.match_info.http_exception is None
        resource = request.match_info.route.resource
        canonical = resource.canonical if known and resource is not None else "(unknown)"
        template = f"{request.method} {canonical}"
        self.arrivals.record(template)
        self.by_path[f"{request.method} {request.path}"] += 1

        network_id, strip_id = self._objects(request)
        active = self.faults.resolve(network_id, strip_id) if self.faults else ActiveFaults()
        delay = self.latency + active.latency
        if delay > 0:
            await asyncio.sleep(delay)
        if active.answer is not None:
            return self._fault_response(request, active.answer)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        body = await request.read()
        try:
            if template != ep.TIME or self.options.time_requires_auth:
                request[SIM_KEY] = self.auth.check(request.raw_path, body, request.headers, self.now())
            if not known:
                raise SimApiError(404, 1002, "Request unknown or not implemented.", "request")
            request[SIM_BODY] = body
            response = await handler(request)
        except SimApiError as err:
            return _error(err)
        return response

    def _objects(self, request: web.Request) -> tuple[int | None, int | None]:
        """The network and strip a request concerns, for fault scoping."""
        info = request.match_info
        strip_id = int(info["powerstrip_id"]) if "powerstrip_id" in info else None
        network_id = int(info["network_id"]) if "network_id" in info else None
        if strip_id is not None and network_id is None:
            strip = self.state.strips.get(strip_id)
            network_id = strip.network_id if strip is not None else None
        return network_id, strip_id

    def _fault_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if fault.kind == "expired_key":
            return _error(self.auth.error(13016))
        if fault.kind == "rate_limit":
            return web.Response(
                status=429,
                text="Too Many Requests\n",
                headers={"Retry-After": str(math.ceil(fault.retry_after))},
            )
        if fault.kind == "http_5xx":
            return _error(SimApiError(fault.http_status, 1016, "Internal error.", "server"))
        if fault.kind == "html":
            return web.Response(status=fault.http_status, body=HTML_PAGE, content_type="text/html")
        return web.Response(status=200, body=MALFORMED_JSON, content_type="application/json")

    def _rate_limited(self) -> web.Response | None:
        rate = self.options.rate_limit_per_second
        if not rate:
            return None
        now = time.monotonic()
        burst = float(self.options.rate_limit_burst)
        self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        wait = math.ceil((1.0 - self._tokens) / rate)
        return web.Response(status=429, text="Too Many Requests\n", headers={"Retry-After": str(max(1, wait))})

    def _done(self, context: str) -> web.Response:
        if self.options.action_body == "empty":
            return web.Response(status=200)
        return web.json_response({"code": 1009, "message": "Success.", "context": context, "values": {}})

    def _key(self, request: web.Request) -> SimKey | None:
        return request.get(SIM_KEY)

    def _network_scope(self, request: web.Request, network_id: int) -> None:
        key = self._key(request)
        if key is not None:
            self.auth.check_scope(key, network_id)

    def _strip(self, request: web.Request) -> Any:
        strip = self.state.strip(int(request.match_info["powerstrip_id"]))
        self._network_scope(request, strip.network_id)
        return strip

    def _network(self, request: web.Request) -> Any:
        network_id = int(request.match_info["network_id"])
        self._network_scope(request, network_id)
        return self.state.network(network_id)

    @staticmethod
    def _json_body(request: web.Request) -> Any:
        raw = request.get(SIM_BODY, b"")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise missing_parameter("body") from None

    # -- API handlers ----------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"time": iso_seconds(self.now())})

    async def _network_list(self, request: web.Request) -> web.Response:
        key = self._key(request)
        nets = [
            {
                "name": n.name,
                "id": n.network_id,
                "latitude": 49.44,
                "longitude": -123.67,
                "down_repeater": sum(1 for sid in n.strip_ids if not self.state.strips[sid].is_up()),
                "down_gateway": 0,
                "spare_nodes": 0,
                "node_count": len(n.strip_ids),
            }
            for n in self.state.networks.values()
            if key is None or key.network_id is None or key.network_id == n.network_id
        ]
        return web.json_response({"networks": nets})

    async def _list(self, request: web.Request) -> web.Response:
        network = self._network(request)
        now = self.now()
        items = [self.state.list_item(self.state.strips[sid], now) for sid in network.strip_ids]
        return web.json_response({"powerstrips": items})

    async def _create(self, request: web.Request) -> web.Response:
        network = self._network(request)
        sid = self.state.create(network.network_id, self._json_body(request), self.now())
        return web.json_response({"powerstrip_id": sid})

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.get_payload(self._strip(request), self.now()))

    async def _update(self, request: web.Request) -> web.Response:
        strip = self._strip(request)
        self.state.update(strip.powerstrip_id, self._json_body(request), self.now())
        return self._done("update_powerstrip")

    async def _delete(self, request: web.Request) -> web.Response:
        strip = self._strip(request)
        self.state.delete(strip.powerstrip_id)
        return self._done("delete_powerstrip")

    async def _usage(self, request: web.Request) -> web.Response:
        strip = self._strip(request)
        period = request.query.get("period", "day")
        return web.json_response(self.state.usage_payload(strip, period, self.now()))

    async def _checkin(self, request: web.Request) -> web.Response:
        self.state.checkin(self._strip(request).powerstrip_id, self.now())
        return self._done("checkin_powerstrip")

    async def _reboot(self, request: web.Request) -> web.Response:
        self.state.reboot(self._strip(request).powerstrip_id, self.now())
        return self._done("reboot_powerstrip")

    async def _pairing(self, request: web.Request) -> web.Response:
        self.state.enable_pairing(self._strip(request).powerstrip_id)
        return self._done("enable_pairing")

    async def _reset_port(self, request: web.Request) -> web.Response:
        strip = self._strip(request)
        self.state.reset_port(strip.powerstrip_id, int(request.match_info["port_id"]), self.now())
        return self._done("reset_port")

    async def _settings(self, request: web.Request) -> web.Response:
        return web.json_response(self._network(request).settings)

    async def _update_settings(self, request: web.Request) -> web.Response:
        network = self._network(request)
        self.state.update_settings(network.network_id, self._json_body(request))
        return self._done("update_powerstrip_settings")

    async def _expedite(self, request: web.Request) -> web.Response:
        self._network(request).upgrades_expedited += 1
        return self._done("expedite_upgrade")

    async def _firmware(self, request: web.Request) -> web.Response:
        return web.json_response({"firmware_versions": self._network(request).firmware_versions})

    # -- control handlers ------------------------------------------------------

    async def _sim_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self.faults.to_json()})

    async def _sim_set_fault(self, request: web.Request) -> web.Response:
        try:
            fault, network_id, strip_id = fault_from_json(await request.json())
            self.faults.set(fault, network_id=network_id, powerstrip_id=strip_id)
        except (ValueError, TypeError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"faults": self.faults.to_json()})

    async def _sim_clear_faults(self, request: web.Request) -> web.Response:
        try:
            network_id = _query_int(request, "network_id")
            strip_id = _query_int(request, "powerstrip_id")
            self.faults.clear(network_id=network_id, powerstrip_id=strip_id, kind=request.query.get("kind"))
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"faults": self.faults.to_json()})

    async def _sim_requests(self, request: web.Request) -> web.Response:
        try:
            before = parse_before(request.query.get("before"))
            counts = self.arrivals.counts(before)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        if before is not None:  # counts cut at an instant, so a benchmark can count whole polls
            return web.json_response({"before": before, "total": sum(counts.values()), "by_endpoint": counts})
        return web.json_response({"total": sum(counts.values()), "by_endpoint": counts, "by_path": dict(self.by_path)})

    async def _sim_reset_requests(self, request: web.Request) -> web.Response:
        self.reset_counts()
        return web.json_response({"total": 0})

    async def _sim_strip_status(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            online = data["online"] if isinstance(data, dict) else None
            if not isinstance(online, bool):
                raise ValueError('expected {"online": true|false}')
            self.set_strip_online(int(request.match_info["powerstrip_id"]), online)
        except KeyError:
            return web.json_response({"error": "no such powerstrip"}, status=404)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"online": online})

    async def _sim_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "networks": {
                    str(n.network_id): {"name": n.name, "powerstrips": len(n.strip_ids)}
                    for n in self.state.networks.values()
                },
                "powerstrips": len(self.state.strips),
            }
        )


def _error(err: SimApiError) -> web.Response:
    return web.json_response(err.body(), status=err.status)


def _query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name} must be an integer")
    return int(raw)
