"""Async CloudTrax API client: signing, clock-skew recovery, typed results and errors.

One client (one aiohttp session) serves one account key. Every call names its
endpoint template (see `endpoints`) and runs inside `request_slot(template)`,
which the target group wires to `SourceContext.request` (`CloudTraxGroup.client`)
for bounded concurrency and API instrumentation. The key and secret never appear
in logs, reprs or exception text: server messages are redacted before they become errors.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
import structlog
from pydantic import BaseModel, ValidationError
from yarl import URL

from exporter.redaction import redact, register_secret
from exporter.sources.api import DEFAULT_MAX_ITEMS, PollError
from exporter.sources.cloudtrax import endpoints as ep
from exporter.sources.cloudtrax.errors import (
    CLOCK_SKEW,
    ApiErrorDetail,
    CloudTraxError,
    classify_status,
)
from exporter.sources.cloudtrax.models import (
    NATIVE,
    TOLERANT,
    ActionResult,
    CreatedPowerStrip,
    FirmwareVersion,
    FirmwareVersionList,
    Network,
    NetworkList,
    NetworkSettings,
    PowerStrip,
    PowerStripList,
    PowerStripSummary,
    ServerTime,
    UsageResponse,
    UsageSample,
)
from exporter.sources.cloudtrax.signing import new_nonce, signed_headers
from exporter.sources.httpclient import (
    Answer,
    classify_transport_error,
    decode_json,
    load_json,
    off_loop,
    parse_retry_after,
    read_limited,
    snippet,
)

log = structlog.get_logger("exporter.sources.cloudtrax")

DEFAULT_BASE_URL = "https://api-v3.cloudtrax.com"
UsagePeriod = Literal["2hours", "day", "week", "month"]
USAGE_PERIODS: tuple[UsagePeriod, ...] = ("2hours", "day", "week", "month")

RequestSlot = Callable[[str], AbstractAsyncContextManager[None]]
_M = TypeVar("_M", bound=BaseModel)
_MAX_ERROR_DETAILS = 10
"""Elements of an `errors[]` envelope that are read; the rest are only counted."""


@asynccontextmanager
async def _no_slot(_endpoint: str) -> Any:
    yield


def _object_id(value: int, what: str) -> int:
    """Ids go into URL paths, so only positive integers are allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


class CloudTraxClient:
    """A signed client for one key/secret pair. Open lazily; close with `aclose()`."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        request_slot: RequestSlot | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = new_nonce,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        self._key = key
        self._secret = secret
        register_secret(key, secret)
        self.base_url = base_url.rstrip("/")
        self._prefix = urlsplit(self.base_url).path.rstrip("/")
        self.timeout = timeout
        self._slot: RequestSlot = request_slot or _no_slot
        self._ssl = ssl_context
        self._clock = clock
        self._nonce = nonce
        self.max_items = max_items
        """Most elements one list or object of an answer may hold; more fails as bad_response."""
        self._session: aiohttp.ClientSession | None = None
        self._log: Any = None
        self.clock_offset = 0.0
        """Seconds to add to the local clock to get the server's, learnt after a 13002."""

    def __repr__(self) -> str:
        return f"CloudTraxClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> CloudTraxClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                raise_for_status=False,
            )
        return self._session

    @staticmethod
    def _redact(text: str) -> str:
        return redact(text)

    # -- transport ---------------------------------------------------------

    async def _send(self, template: str, method: str, path_qs: str, body: bytes) -> Answer:
        wire_path = self._prefix + path_qs
        timestamp = int(self._clock() + self.clock_offset)
        headers = signed_headers(self._key, self._secret, wire_path, body, timestamp=timestamp, nonce=self._nonce())
        url = URL(self.base_url + path_qs, encoded=True)
        what = f"{method} {path_qs.partition('?')[0]}"
        start = time.perf_counter()
        async with self._slot(template):
            try:
                async with self._get_session().request(
                    method, url, data=body if body else None, headers=headers, allow_redirects=False
                ) as resp:
                    raw = await read_limited(resp, what)
                    response = Answer(resp.status, raw, resp.content_type or "", resp.headers)
            except PollError as exc:
                raise CloudTraxError("bad_response", self._redact(str(exc))) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failure = classify_transport_error(exc, what)
                raise CloudTraxError(failure.reason, self._redact(str(failure))) from None
        if self._log is None:  # bound at the first request, once logging is configured: a filtered call is free
            self._log = log.bind()
        self._log.debug(
            "cloudtrax request",
            request=what,
            endpoint=template,
            status=response.status,
            seconds=round(time.perf_counter() - start, 4),
        )
        return response

    async def _call(
        self,
        template: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        payload: Any = None,
        resync: bool = True,
    ) -> Answer:
        """Send one signed request; after a 13002 resync the clock and try exactly once more."""
        method = ep.split(template)[0]
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8") if payload is not None else b""
        path_qs = path + ("?" + urlencode(query) if query else "")
        what = f"{method} {path}"
        response = await self._send(template, method, path_qs, body)
        if 200 <= response.status < 300:
            return response
        error = await off_loop(len(response.body), self._error, what, response)
        if not (resync and CLOCK_SKEW in error.codes):
            raise error
        await self._resync_clock(response, error)
        response = await self._send(template, method, path_qs, body)
        if 200 <= response.status < 300:
            return response
        raise await off_loop(len(response.body), self._error, what, response)

    async def _resync_clock(self, skewed: Answer, error: CloudTraxError) -> None:
        """Learn the server's clock from `GET /time`, else from the 13002 answer's Date header."""
        before = self._clock()
        try:
            server = await self._server_time(resync=False)
        except CloudTraxError as exc:
            date = _parse_http_date(skewed.headers.get("Date"))
            if date is None:
                raise error from None
            log.warning("GET /time failed; using the Date header to correct the clock", error=str(exc))
            self.clock_offset = date - before
        else:
            after = self._clock()
            self.clock_offset = server.timestamp() - (before + after) / 2
        log.info("cloudtrax clock offset corrected after 13002", offset_seconds=round(self.clock_offset, 1))

    def _error(self, what: str, response: Answer) -> CloudTraxError:
        details, total = self._envelope(response)
        cls, reason = classify_status(response.status, details)
        text = f"{what}: HTTP {response.status}"
        if details:
            text += ": " + details[0].describe()
            if total > 1:
                text += f" (and {total - 1} more)"
        elif response.body.lstrip()[:1] == b"<" or "html" in response.content_type:
            text += ": an HTML page"
        elif response.body:
            text += ": " + snippet(response.body)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response.status == 429 else None
        if retry_after is not None:
            text += f" (Retry-After {retry_after:g}s)"
        return cls(
            reason,
            self._redact(text),
            status=response.status,
            errors=details,
            retry_after=retry_after,
        )

    def _envelope(self, response: Answer) -> tuple[list[ApiErrorDetail], int]:
        """The first `errors[]` elements of a CloudTrax error body and how many there were.

        ([], 0) when the body is something else. Only a few elements are read, so a hostile
        envelope of a million errors costs no more than a short one.
        """
        try:
            data = load_json(response.body, "error body")
        except PollError:
            return [], 0
        if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
            return [], 0
        details = []
        for item in data["errors"][:_MAX_ERROR_DETAILS]:
            if not isinstance(item, dict):
                continue
            code = item.get("code")
            try:
                code_int = int(code) if code is not None and not isinstance(code, bool) else None
            except (TypeError, ValueError, OverflowError):
                code_int = None
            values = item.get("values")
            details.append(
                ApiErrorDetail(
                    code=code_int,
                    message=self._redact(str(item.get("message") or "")),
                    context=self._redact(str(item.get("context") or "")),
                    values=(
                        {str(k): self._redact(str(v)) for k, v in values.items()} if isinstance(values, dict) else {}
                    ),
                )
            )
        return details, len(data["errors"])

    def _json(self, what: str, response: Answer) -> dict[str, Any]:
        """A 2xx body as a JSON object; an `errors` envelope even on 2xx is still an error."""
        try:
            data = decode_json(response.body, response.content_type, what, self.max_items)
        except PollError as exc:  # bad_response: HTML or malformed JSON
            raise CloudTraxError("bad_response", self._redact(str(exc)), status=response.status) from None
        if not isinstance(data, dict):
            kind = "a list" if isinstance(data, list) else type(data).__name__
            raise CloudTraxError("bad_response", f"{what}: expected a JSON object, got {kind}", status=response.status)
        if isinstance(data.get("errors"), list) and data["errors"]:
            raise self._error(what, response)
        return data

    def parse_answer(self, model: type[_M], what: str, response: Answer) -> _M:
        """Decode and validate a 2xx answer; any failure is bad_response (or the envelope's error).

        An answer that cannot be an error envelope is validated from its bytes by pydantic-core, after
        the item check when it could be over the limit; if that fails, the step-by-step path below
        says why."""
        body = response.body
        plain = "html" not in response.content_type and b'"errors"' not in body and b"\\u" not in body
        if plain:
            # No list or object of it can hold max_items elements when it has fewer commas: the item
            # check is moot. Otherwise the check runs on a parse whose objects are dropped at once,
            # and the answer is still validated from its bytes (a network's list of hundreds of strips).
            if len(body) > 2 * self.max_items and body.count(b",") >= self.max_items:
                self._json(what, response)
            try:
                return model.model_validate_json(body)
            except (ValidationError, ArithmeticError, RecursionError, TypeError, ValueError):
                pass
        data = self._json(what, response)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            # A `NativeFirst` field that failed both ways: only the tolerant parser's reason says why.
            errors = [e for e in exc.errors(include_url=False, include_input=False) if NATIVE not in e["loc"]]
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'] if p != TOLERANT) or '(top level)'}: {err['msg']}"
                for err in errors[:3]
            )
            raise CloudTraxError(
                "bad_response",
                self._redact(f"{what}: unexpected response shape: {problems}"),
                status=response.status,
            ) from None
        except (ArithmeticError, RecursionError, TypeError, ValueError) as exc:
            # a validator tripped over a value no schema check names (a number too big for a float)
            raise CloudTraxError(
                "bad_response",
                f"{what}: unusable value in the answer ({type(exc).__name__})",
                status=response.status,
            ) from None

    def _action(self, what: str, response: Answer) -> ActionResult:
        """Any 2xx is success; keep the 1009 element if one came back."""
        try:
            data = load_json(response.body, what) if response.body.strip() else None
        except PollError:
            data = None
        if isinstance(data, dict):
            if isinstance(data.get("errors"), list) and data["errors"]:
                raise self._error(what, response)
            code = data.get("code")
            return ActionResult(
                status=response.status,
                code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                message=str(data.get("message") or ""),
                context=str(data.get("context") or ""),
            )
        return ActionResult(status=response.status)

    async def _get_model(self, template: str, path: str, model: type[_M], query: Mapping[str, str] | None = None) -> _M:
        response = await self._call(template, path, query=query)
        return await off_loop(len(response.body), self.parse_answer, model, f"GET {path}", response)

    async def _act(self, template: str, path: str, payload: Any = None) -> ActionResult:
        response = await self._call(template, path, payload=payload)
        return self._action(f"{ep.split(template)[0]} {path}", response)

    # -- account -----------------------------------------------------------

    async def server_time(self) -> datetime:
        """`GET /time`: the server's clock (used to correct skew after a 13002)."""
        return await self._server_time(resync=True)

    async def _server_time(self, *, resync: bool) -> datetime:
        response = await self._call(ep.TIME, "/time", resync=resync)
        server: ServerTime = await off_loop(len(response.body), self.parse_answer, ServerTime, ep.TIME, response)
        return server.time

    async def list_networks(self) -> list[Network]:
        """`GET /network/list`: every network the key can see (one for a network key)."""
        return (await self._get_model(ep.NETWORK_LIST, "/network/list", NetworkList)).networks

    # -- power strips ------------------------------------------------------

    async def list_powerstrips(self, network_id: int) -> list[PowerStripSummary]:
        nid = _object_id(network_id, "network_id")
        path = f"/powerstrip/network/{nid}/list"
        return (await self._get_model(ep.LIST_POWERSTRIPS, path, PowerStripList)).powerstrips

    async def create_powerstrip(
        self,
        network_id: int,
        *,
        mac: str,
        name: str,
        description: str = "",
        model: str = "",
        confirm_transfer: bool = False,
    ) -> int:
        """Register a strip by MAC in a network; returns the new `powerstrip_id`."""
        nid = _object_id(network_id, "network_id")
        path = f"/powerstrip/network/{nid}"
        payload = {
            "mac": mac,
            "name": name,
            "description": description,
            "model": model,
            "confirm_transfer": confirm_transfer,
        }
        response = await self._call(ep.CREATE_POWERSTRIP, path, payload=payload)
        return self.parse_answer(CreatedPowerStrip, f"POST {path}", response).powerstrip_id

    async def get_powerstrip(self, powerstrip_id: int) -> PowerStrip:
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._get_model(ep.GET_POWERSTRIP, f"/powerstrip/{sid}", PowerStrip)

    async def update_powerstrip(self, powerstrip_id: int, changes: Mapping[str, Any]) -> ActionResult:
        """`PUT /powerstrip/<id>` with the given fields (see the vendor's update body)."""
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._act(ep.UPDATE_POWERSTRIP, f"/powerstrip/{sid}", dict(changes))

    async def set_port_enabled(self, powerstrip_id: int, port_id: int, enabled: bool) -> ActionResult:
        """Switch one port on or off. The API has no per-port switch, so this reads the strip
        and PUTs its full port list with one `enable` changed (partial PUTs are undocumented)."""
        strip = await self.get_powerstrip(powerstrip_id)
        if not any(p.port_id == port_id for p in strip.ports):
            raise ValueError(f"powerstrip {powerstrip_id} has no port {port_id}")
        ports = [
            {
                "port_id": p.port_id,
                "label": p.label,
                "enable": enabled if p.port_id == port_id else bool(p.enable),
                "connection_check_name": p.connection_check_name,
            }
            for p in strip.ports
        ]
        return await self.update_powerstrip(powerstrip_id, {"ports": ports})

    async def delete_powerstrip(self, powerstrip_id: int) -> ActionResult:
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._act(ep.DELETE_POWERSTRIP, f"/powerstrip/{sid}")

    async def get_usage(self, powerstrip_id: int, period: UsagePeriod = "day") -> list[UsageSample]:
        """Usage history, oldest first whatever order the server used."""
        sid = _object_id(powerstrip_id, "powerstrip_id")
        if period not in USAGE_PERIODS:
            raise ValueError(f"period must be one of {', '.join(USAGE_PERIODS)}, got {period!r}")
        result = await self._get_model(ep.USAGE, f"/powerstrip/{sid}/usage", UsageResponse, {"period": period})
        return sorted(result.usage, key=lambda s: s.time)

    async def checkin_powerstrip(self, powerstrip_id: int) -> ActionResult:
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._act(ep.CHECKIN, f"/powerstrip/{sid}/checkin")

    async def reboot_powerstrip(self, powerstrip_id: int) -> ActionResult:
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._act(ep.REBOOT, f"/powerstrip/{sid}/reboot")

    async def enable_pairing(self, powerstrip_id: int) -> ActionResult:
        sid = _object_id(powerstrip_id, "powerstrip_id")
        return await self._act(ep.ENABLE_PAIRING, f"/powerstrip/{sid}/enable_pairing")

    async def reset_port(self, powerstrip_id: int, port_id: int) -> ActionResult:
        """Power-cycle one port (CloudTrax port ids start at 1)."""
        sid = _object_id(powerstrip_id, "powerstrip_id")
        pid = _object_id(port_id, "port_id")
        return await self._act(ep.RESET_PORT, f"/powerstrip/{sid}/port/{pid}/reset")

    # -- network-wide power-strip settings ---------------------------------

    async def get_network_settings(self, network_id: int) -> NetworkSettings:
        nid = _object_id(network_id, "network_id")
        return await self._get_model(ep.GET_NETWORK_SETTINGS, f"/powerstrip/network/{nid}/settings", NetworkSettings)

    async def update_network_settings(self, network_id: int, changes: Mapping[str, Any]) -> ActionResult:
        """Fields: enable_power_switch, enable_mesh, enable_upgrade (bool), firmware_tag (str)."""
        nid = _object_id(network_id, "network_id")
        return await self._act(ep.UPDATE_NETWORK_SETTINGS, f"/powerstrip/network/{nid}/settings", dict(changes))

    async def expedite_upgrade(self, network_id: int) -> ActionResult:
        nid = _object_id(network_id, "network_id")
        return await self._act(ep.EXPEDITE_UPGRADE, f"/powerstrip/network/{nid}/expedite_upgrade")

    async def list_firmware_versions(self, network_id: int) -> list[FirmwareVersion]:
        nid = _object_id(network_id, "network_id")
        path = f"/powerstrip/network/{nid}/firmware_versions"
        return (await self._get_model(ep.FIRMWARE_VERSIONS, path, FirmwareVersionList)).firmware_versions


def _parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
