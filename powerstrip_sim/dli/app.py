"""The simulator's HTTP surface: `/restapi/...` as a DLI unit answers it, and `/_sim/...` to steer it."""

from __future__ import annotations

import asyncio
import html
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from powerstrip_sim.dli.device import LockedError, SimDevice, SimUser
from powerstrip_sim.dli.digest import DigestVerifier
from powerstrip_sim.dli.faults import Faults
from powerstrip_sim.dli.paths import NotFound, limit_depth, select, step
from powerstrip_sim.request_ledger import RequestLedger, parse_before

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_JSON = "application/json"
_NO_FAULTS = Faults()


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Status codes the real API was never seen to use; each is a guess, so each is a knob."""

    csrf_status: int = 403
    locked_status: int = 409
    redirect_status: int = 302
    not_found_status: int = 404


_CHALLENGE = "401 challenge"


@dataclass
class Stats:
    """What reached the simulator: authenticated `/restapi` calls by "METHOD path" and 401 challenges,
    each with its arrival time, so counts can also be cut at an instant."""

    arrivals: RequestLedger = field(default_factory=RequestLedger)

    @property
    def requests(self) -> Counter[str]:
        counts = self.arrivals.counts()
        counts.pop(_CHALLENGE, None)
        return Counter(counts)

    @property
    def challenges(self) -> int:
        return self.arrivals.counts().get(_CHALLENGE, 0)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def request(self, key: str) -> None:
        self.arrivals.record(key)

    def challenge(self) -> None:
        self.arrivals.record(_CHALLENGE)

    def reset(self) -> None:
        self.arrivals.clear()

    def to_json(self, before: float | None = None) -> dict[str, Any]:
        counts = self.arrivals.counts(before)
        challenges = counts.pop(_CHALLENGE, 0)
        cut = {"before": before} if before is not None else {}
        return {**cut, "requests": counts, "total": sum(counts.values()), "challenges": challenges}


class _Reply(Exception):
    """Short-circuit a handler with a finished response."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_HTML_FAULT_PAGE = (
    "<!DOCTYPE html><html><head><title>Power Controller</title></head>"
    "<body><h1>Login</h1><form method=post action=/login.tgi><input name=Username>"
    "<input type=password name=Password></form></body></html>"
)


class RestApi:
    """Request handling for one simulated unit. Everything mutable lives here or in `device`."""

    def __init__(
        self,
        device: SimDevice,
        users: dict[str, SimUser],
        verifier: DigestVerifier,
        behaviour: Behaviour,
        on_faults: Callable[[Faults], None],
    ) -> None:
        self.device = device
        self.users = users
        self.verifier = verifier
        self.behaviour = behaviour
        self.faults = Faults()
        self.stats = Stats()
        self._on_faults = on_faults

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self._on_faults(faults)

    # -- /restapi ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path
        path, _, query = raw_path.partition("?")
        rel = path[len("/restapi") :].lstrip("/")
        faults = self.faults if self.faults.applies(rel) else _NO_FAULTS
        try:
            await self._inject(request, faults)
            user = self._authenticate(request, faults)
            if not path.endswith("/"):
                location = path + "/" + (f"?{query}" if query else "")
                raise _Reply(web.Response(status=self.behaviour.redirect_status, headers={"Location": location}))
            self.stats.request(f"{request.method} {path}")
            if request.method not in _SAFE_METHODS and not self._csrf_ok(request):
                raise _Reply(_text(self.behaviour.csrf_status, "CSRF check failed: send X-CSRF or X-Requested-With"))
            segments = rel.split("/")[:-1] if rel else []
            if request.method in ("GET", "HEAD"):
                return self._get(request, user, segments, faults)
            if request.method == "PUT":
                return await self._put(request, user, segments)
            if request.method == "POST":
                return await self._post(request, user, segments, faults)
            return _text(405, "method not allowed")
        except _Reply as reply:
            return reply.response
        except NotFound:
            return _text(self.behaviour.not_found_status, "not found")
        except LockedError as err:
            return _text(self.behaviour.locked_status, str(err))

    async def _inject(self, request: web.Request, faults: Faults) -> None:
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.drop_connection:
            if request.transport is not None:
                request.transport.abort()
            raise _Reply(web.Response(status=500))  # never reaches the client
        if faults.http_status is not None:
            reply = _text(faults.http_status, f"simulated HTTP {faults.http_status}")
            if faults.retry_after is not None:
                reply.headers["Retry-After"] = str(faults.retry_after)
            raise _Reply(reply)
        if faults.html_page:
            raise _Reply(web.Response(status=200, text=_HTML_FAULT_PAGE, content_type="text/html"))

    def _authenticate(self, request: web.Request, faults: Faults) -> SimUser:
        result = self.verifier.verify(request.method, request.raw_path, request.headers.get("Authorization"))
        user = self.users.get(result.user) if result.user is not None and not faults.wrong_credentials else None
        if user is None:
            self.stats.challenge()
            raise _Reply(
                web.Response(
                    status=401,
                    text="401 Unauthorized\n",
                    content_type="text/plain",
                    headers={"WWW-Authenticate": self.verifier.challenge(stale=result.stale)},
                )
            )
        return user

    @staticmethod
    def _csrf_ok(request: web.Request) -> bool:
        if "X-CSRF" in request.headers:
            return True
        return request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest"

    @staticmethod
    def _deny_unless_admin(user: SimUser) -> None:
        if not user.is_admin:
            raise _Reply(_text(403, "denied: not an administrative user"))

    # -- reads -------------------------------------------------------------------

    def _views(self, user: SimUser) -> dict[str, Callable[[], Any]]:
        d = self.device
        views: dict[str, Callable[[], Any]] = {
            "relay": d.relay_view,
            "config": lambda: {**d.config_view(), "allow_plaintext_logins": self.verifier.allow_basic},
            "cred": lambda: {"is_admin": user.is_admin, "outlet_access": [True] * len(d.outlets)},
            "script": lambda: {"threads": dict(d.threads)},
        }
        if d.model.has_meters:
            views["meter"] = lambda: {"values": d.meter_view(), "buses": d.buses_view()}
        return views

    def _get(self, request: web.Request, user: SimUser, segments: list[str], faults: Faults) -> web.StreamResponse:
        if segments and segments[0] in ("script", "auth"):
            self._deny_unless_admin(user)
        views = self._views(user)
        if segments and segments[0] in views:
            root = {segments[0]: views[segments[0]]()}
        elif not segments:
            root = {"": {k: v() for k, v in views.items()}}
            segments = [""]
        else:
            raise NotFound(segments[0])
        picked = select(root, segments)
        if picked.matrix:
            value: Any = picked.values
            status = 207
        else:
            value = picked.values[0]
            status = 200
        depth = _range_depth(request.headers.get("Range"))
        if depth is not None and not picked.matrix:
            value = limit_depth(value, depth)
            status = 206
        if _JSON not in request.headers.get("Accept", ""):
            # GUESS: without `Accept: application/json` the unit serves its browsable HTML view.
            page = f"<!DOCTYPE html><html><body><pre>{html.escape(_json_text(value))}</pre></body></html>"
            return web.Response(status=status, text=page, content_type="text/html")
        body = _json_text(value)
        if faults.malformed_json:
            body = body[: max(1, len(body) // 2)] + "\n}{"  # cut off; never valid, even inside a string
        resp = web.Response(status=status, text=body, content_type=_JSON)
        if picked.matrix:
            for p in picked.paths:
                resp.headers.add("Link", f'</restapi/{p}>; rel="item"')
        return resp

    # -- writes ------------------------------------------------------------------

    async def _value(self, request: web.Request) -> Any:
        """The written value: form `value=...`, a bare JSON literal, or plain text."""
        body = await request.text()
        ctype = request.content_type
        if ctype == "application/x-www-form-urlencoded":
            values = parse_qs(body, keep_blank_values=True).get("value")
            if not values:
                raise _Reply(_text(400, "missing value"))
            text = values[0]
        else:
            text = body
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _outlet_indices(self, segment: str) -> tuple[list[int], bool]:
        chosen, matrix = step(self.device.outlets_view(), segment)
        return [int(k) for k, _ in chosen], matrix

    @staticmethod
    def _written(indices: list[int], matrix: bool, what: str) -> web.Response:
        if not matrix:
            return web.Response(status=204)
        resp = web.Response(status=207, text=_json_text([None] * len(indices)), content_type=_JSON)
        for i in indices:
            resp.headers.add("Link", f'</restapi/relay/outlets/{i}/{what}/>; rel="item"')
        return resp

    async def _put(self, request: web.Request, user: SimUser, segments: list[str]) -> web.StreamResponse:
        d = self.device
        value = await self._value(request)
        if len(segments) == 4 and segments[:2] == ["relay", "outlets"]:
            indices, matrix = self._outlet_indices(segments[2])
            field_name = segments[3]
            setters: dict[str, Callable[[int, Any], None]] = {
                "state": d.set_state,
                "transient_state": d.set_transient_state,
            }
            admin_setters: dict[str, Callable[[int, Any], None]] = {
                "name": d.set_name,
                "critical": d.set_critical,
                "cycle_delay": d.set_cycle_delay,
            }
            if field_name in admin_setters:
                self._deny_unless_admin(user)
                setter = admin_setters[field_name]
            elif field_name in setters:
                setter = setters[field_name]
            elif field_name in ("physical_state", "locked"):
                # The physical state is read-only, and DLI's REST examples say "Locking or Unlocking
                # Outlets: you must use the keypad or uom". The 403 status is a guess.
                raise _Reply(_text(403, f"{field_name} cannot be set over the REST API"))
            else:
                raise NotFound(field_name)
            _check_type(field_name, value)
            if field_name in setters:
                d.check_unlocked(indices)
            for i in indices:
                setter(i, value)
            return self._written(indices, matrix, field_name)
        self._deny_unless_admin(user)
        if segments == ["relay", "cycle_delay"]:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _Reply(_text(400, "cycle_delay must be a number of seconds"))
            d.cycle_delay = float(value)
            return web.Response(status=204)
        if segments == ["config", "hostname"] and isinstance(value, str):
            d.hostname = value
            return web.Response(status=204)
        return _text(405, "not writable in the simulator")

    async def _post(
        self, request: web.Request, user: SimUser, segments: list[str], faults: Faults
    ) -> web.StreamResponse:
        d = self.device
        if len(segments) == 4 and segments[:2] == ["relay", "outlets"] and segments[3] == "cycle":
            indices, matrix = self._outlet_indices(segments[2])
            d.check_unlocked(indices)
            for i in indices:
                d.cycle(i)
            return self._written(indices, matrix, "cycle")
        if segments == ["relay", "set_outlet_transient_states"]:
            args = _json_body(await request.text())
            wanted = _transient_pairs(args, len(d.outlets))
            d.check_unlocked(wanted)
            for i, v in wanted.items():
                d.set_transient_state(i, v)
            return web.Response(status=204)
        self._deny_unless_admin(user)
        if segments == ["system", "reboot"]:
            d.reboot()
            return web.Response(status=204)
        if segments == ["script", "start"]:
            args = _json_body(await request.text())
            if not (isinstance(args, list) and args and isinstance(args[0], dict) and "user_function" in args[0]):
                raise _Reply(_text(409, "invalid function"))
            label = str(args[0].get("source") or args[0]["user_function"])
            return web.Response(text=_json_text(d.start_thread(label)), content_type=_JSON)
        if segments == ["script", "stop"]:
            args = _json_body(await request.text())
            if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], str)):
                raise _Reply(_text(400, 'expected ["<thread id>"] or ["all"]'))
            if not d.stop_thread(args[0]):
                raise NotFound(args[0])
            return web.Response(text="null", content_type=_JSON)
        return _text(405, "not a call in the simulator")

    # -- /_sim control -------------------------------------------------------------

    async def control_faults(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.set_faults(Faults())
        elif request.method in ("PUT", "POST", "PATCH"):
            try:
                changes = await request.json()
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                self.set_faults(self.faults.merged(changes))
            except ValueError as err:
                return web.json_response({"error": str(err)}, status=400)
        return web.json_response(self.faults.to_json())

    async def control_stats(self, request: web.Request) -> web.Response:
        try:
            before = parse_before(request.query.get("before"))
            stats = self.stats.to_json(before)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        if request.method == "DELETE":
            self.stats.reset()
            stats = self.stats.to_json()
        return web.json_response(stats)

    async def control_state(self, request: web.Request) -> web.Response:
        d = self.device
        return web.json_response(
            {
                "model": d.model.key,
                "serial": d.serial,
                "outlets": d.outlets_view(),
                "meters": d.meter_view() if d.model.has_meters else {},
                "threads": d.threads,
                "boots": d.boots,
                "faults": self.faults.to_json(),
            }
        )


def _transient_pairs(args: Any, outlets: int) -> dict[int, bool]:
    """`set_outlet_transient_states` takes one argument: a list of [index, bool] pairs."""
    bad = _Reply(_text(400, "expected [[[index, bool], ...]]"))
    if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], list)):
        raise bad
    wanted: dict[int, bool] = {}
    for pair in args[0]:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise bad
        index, value = pair
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < outlets:
            raise bad
        if not isinstance(value, bool):
            raise bad
        wanted[index] = value
    return wanted


def _check_type(field_name: str, value: Any) -> None:
    ok = {
        "state": isinstance(value, bool),
        "transient_state": isinstance(value, bool),
        "critical": isinstance(value, bool),
        "name": isinstance(value, str),
        "cycle_delay": value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value >= 0),
    }[field_name]
    if not ok:
        raise _Reply(_text(400, f"bad value for {field_name}"))


def _json_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _Reply(_text(400, "expected a JSON body")) from None


def _range_depth(header: str | None) -> int | None:
    if not header or not header.startswith("dli-depth="):
        return None
    value = header.removeprefix("dli-depth=").strip()
    return int(value) if value.isdigit() else None


def make_app(api: RestApi) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/restapi", api.handle)
    app.router.add_route("*", "/restapi/{tail:.*}", api.handle)
    app.router.add_route("*", "/_sim/faults", api.control_faults)
    app.router.add_route("*", "/_sim/stats", api.control_stats)
    app.router.add_route("GET", "/_sim/state", api.control_state)
    return app


def user_table(users: Mapping[str, SimUser]) -> Callable[[], dict[str, str]]:
    return lambda: {name: u.password for name, u in users.items()}
