"""Async REST client for one DLI controller (digest auth, JSON, CSRF header on writes).

Every call goes through `SourceContext.request()` so the source's request
limit and the API instrumentation see it. Errors are typed `DliError`s, never
carrying credentials: messages name the endpoint template and the status only.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from exporter.sources.api import SourceContext
from exporter.sources.dli.errors import DliAuthError, DliError, DliHttpError, OutletLockedError
from exporter.sources.dli.models import (
    Identity,
    Meter,
    OutletStatus,
    WriteResult,
    parse_meters,
    parse_outlet,
    parse_outlets,
    parse_scalar_text,
    parse_threads,
)
from exporter.sources.httpclient import classify_transport_error, decode_json, parse_retry_after, read_limited

# Route templates: the `endpoint` label of the API metrics. Keep in step with DliSource.api_endpoints.
EP_OUTLETS = "GET /restapi/relay/outlets/"
EP_OUTLET = "GET /restapi/relay/outlets/{n}/"
EP_METERS = "GET /restapi/meter/values/"
EP_SERIAL = "GET /restapi/config/serial/"
EP_VERSION = "GET /restapi/config/version/"
EP_HOSTNAME = "GET /restapi/config/hostname/"
EP_RELAY_VERSION = "GET /restapi/relay/version/"
EP_RELAY_MODEL = "GET /restapi/relay/model/"
EP_THREADS = "GET /restapi/script/threads/"
EP_CYCLE = "POST /restapi/relay/outlets/{n}/cycle/"
EP_SET_STATE = "PUT /restapi/relay/outlets/{n}/state/"
EP_SET_TRANSIENT = "PUT /restapi/relay/outlets/{n}/transient_state/"
EP_REBOOT = "POST /restapi/system/reboot/"

ENDPOINTS: tuple[str, ...] = (
    EP_OUTLETS,
    EP_OUTLET,
    EP_METERS,
    EP_SERIAL,
    EP_VERSION,
    EP_HOSTNAME,
    EP_RELAY_VERSION,
    EP_RELAY_MODEL,
    EP_THREADS,
    EP_CYCLE,
    EP_SET_STATE,
    EP_SET_TRANSIENT,
    EP_REBOOT,
)

_WRITE_OK = (200, 204)
"""DLI answers single writes with 204; some third-party clients also accept 200, so do we."""

_CSRF = {"X-CSRF": "x"}


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything the client needs to reach one device; `password` is held only here."""

    url: str
    username: str
    password: str
    auth: str = "digest"
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout: float = 10.0

    def __repr__(self) -> str:  # keep the password out of any accidental repr
        return f"ClientSettings(url={self.url!r}, username={self.username!r}, auth={self.auth!r})"


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]


class DliClient:
    """One session per device, opened on first use and closed by `aclose()`."""

    def __init__(self, settings: ClientSettings, ctx: SourceContext) -> None:
        self._settings = settings
        self._ctx = ctx
        self._base = URL(settings.url.rstrip("/") + "/restapi/")
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self._settings.url

    # -- session -----------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool:
        if self._settings.insecure_skip_verify:
            return False  # units ship self-signed certificates; the operator opted out
        if self._settings.ca_file is not None:
            return ssl.create_default_context(cafile=self._settings.ca_file)
        return True

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self._settings
            middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
            headers = {"Accept": "application/json"}
            if s.auth == "basic":
                token = base64.b64encode(f"{s.username}:{s.password}".encode()).decode("ascii")
                headers["Authorization"] = f"Basic {token}"
            else:
                middlewares = (aiohttp.DigestAuthMiddleware(s.username, s.password),)
            try:
                ssl_arg = self._ssl()
            except (OSError, ssl.SSLError) as err:
                raise DliError("connection", f"ca_file: cannot load certificates ({type(err).__name__})") from None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_arg, limit=4),
                headers=headers,
                middlewares=middlewares,
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                raise_for_status=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing ----------------------------------------------------------------

    async def _call(
        self,
        template: str,
        method: str,
        path: str,
        *,
        data: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> _Response:
        session = self._open()
        url = self._base.join(URL(path))
        headers = _CSRF if write else None
        async with self._ctx.request(template):
            try:
                async with session.request(method, url, data=data, headers=headers, allow_redirects=False) as resp:
                    body = await read_limited(resp, template)
                    return _Response(resp.status, body, resp.headers.get("Content-Type", ""), dict(resp.headers))
            except Exception as exc:
                if type(exc) is aiohttp.ClientError and self._settings.auth == "digest":
                    # aiohttp's digest middleware refuses a malformed challenge with a bare ClientError
                    # whose text quotes the challenge; the cause is the unit's authentication.
                    raise DliAuthError(f"{template}: unusable Digest challenge", status=401) from None
                raise classify_transport_error(exc, template) from None

    @staticmethod
    def _fail(template: str, resp: _Response, outlet: int | None = None) -> DliError:
        status = resp.status
        if status == 401:
            return DliAuthError(f"{template}: HTTP 401 (wrong username or password)", status=status)
        if status == 403:
            return DliAuthError(f"{template}: HTTP 403 (CSRF check or missing permission)", status=status)
        if status == 409:
            which = f"outlet {outlet} is" if outlet is not None else "outlet is"
            return OutletLockedError(f"{template}: HTTP 409 ({which} locked)", outlet=outlet)
        if 300 <= status < 400:
            # Units redirect only a path without its trailing slash, which the client never sends;
            # a redirect elsewhere (a loop, another host) is not followed with the credentials.
            return DliHttpError(f"{template}: HTTP {status} (redirects are not followed)", status=status)
        retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
        return DliHttpError(f"{template}: HTTP {status}", status=status, retry_after=retry_after)

    async def _get_json(self, template: str, path: str, *, missing_ok: tuple[int, ...] = ()) -> Any | None:
        """GET and decode; statuses in `missing_ok` give None instead of an error."""
        resp = await self._call(template, "GET", path)
        if resp.status in missing_ok:
            return None
        if resp.status not in (200, 207):
            raise self._fail(template, resp)
        return decode_json(resp.body, resp.content_type, template)

    async def _write(
        self,
        template: str,
        method: str,
        path: str,
        action: str,
        outlet: int | None,
        data: Mapping[str, str] | None = None,
    ) -> WriteResult:
        resp = await self._call(template, method, path, data=data, write=True)
        if resp.status not in _WRITE_OK:
            raise self._fail(template, resp, outlet)
        return WriteResult(action=action, outlet=outlet, status=resp.status)

    @staticmethod
    def _index(outlet: int) -> int:
        if isinstance(outlet, bool) or not isinstance(outlet, int) or outlet < 0:
            raise ValueError(f"outlet must be a 0-based index, got {outlet!r}")
        return outlet

    # -- reads -------------------------------------------------------------------

    async def outlets(self) -> list[OutletStatus]:
        """All outlets with their seven fields, 0-based."""
        return parse_outlets(await self._get_json(EP_OUTLETS, "relay/outlets/"), EP_OUTLETS)

    async def outlet(self, outlet: int) -> OutletStatus:
        """One outlet; handy after a write to see what the device now reports."""
        n = self._index(outlet)
        return parse_outlet(n, await self._get_json(EP_OUTLET, f"relay/outlets/{n}/"), EP_OUTLET)

    async def meters(self) -> list[Meter]:
        """The meter map; a unit without meters (404) gives an empty list, not an error."""
        raw = await self._get_json(EP_METERS, "meter/values/", missing_ok=(404,))
        return [] if raw is None else parse_meters(raw, EP_METERS)

    async def identity(self) -> Identity:
        """Serial, firmware versions, model and hostname; a field the unit lacks (403/404) is ""."""
        fields: dict[str, str] = {}
        for key, template, path in (
            ("serial", EP_SERIAL, "config/serial/"),
            ("firmware_version", EP_VERSION, "config/version/"),
            ("hostname", EP_HOSTNAME, "config/hostname/"),
            ("relay_firmware_version", EP_RELAY_VERSION, "relay/version/"),
            ("model", EP_RELAY_MODEL, "relay/model/"),
        ):
            raw = await self._get_json(template, path, missing_ok=(403, 404))
            fields[key] = parse_scalar_text(raw, template)
        return Identity(**fields)

    async def script_threads(self) -> int | None:
        """Running script threads, or None when the user is not an admin (403) or there is no script API."""
        raw = await self._get_json(EP_THREADS, "script/threads/", missing_ok=(403, 404))
        return None if raw is None else parse_threads(raw, EP_THREADS)

    # -- writes (for the action API) ---------------------------------------------

    async def cycle(self, outlet: int) -> WriteResult:
        """Power-cycle an outlet (off, then on after its cycle delay); a no-op on the device if it is off."""
        n = self._index(outlet)
        return await self._write(EP_CYCLE, "POST", f"relay/outlets/{n}/cycle/", "cycle", n)

    async def set_state(self, outlet: int, on: bool) -> WriteResult:
        """Set the persistent state (survives a power cycle or reboot)."""
        n = self._index(outlet)
        data = {"value": "true" if on else "false"}
        return await self._write(EP_SET_STATE, "PUT", f"relay/outlets/{n}/state/", "set_state", n, data)

    async def set_transient_state(self, outlet: int, on: bool) -> WriteResult:
        """Set the transient state (reverts to the persistent state on reboot)."""
        n = self._index(outlet)
        data = {"value": "true" if on else "false"}
        path = f"relay/outlets/{n}/transient_state/"
        return await self._write(EP_SET_TRANSIENT, "PUT", path, "set_transient_state", n, data)

    async def reboot(self) -> WriteResult:
        """Reboot the controller (firmware 1.11.6.0+); outlets fall back to their persistent state."""
        return await self._write(EP_REBOOT, "POST", "system/reboot/", "reboot", None)
