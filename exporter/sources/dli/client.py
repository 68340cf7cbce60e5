"""Async REST client for one DLI controller (digest auth, JSON, CSRF header on writes).

Every call goes through `SourceContext.request()` so the source's request
limit and the API instrumentation see it. Errors are `PollError`s, never
carrying credentials: messages name the endpoint template and the status only.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from exporter.redaction import basic_credential, register_secret
from exporter.sources.api import DEFAULT_MAX_ITEMS, PollError, SourceContext
from exporter.sources.dli import endpoints as ep
from exporter.sources.dli.errors import DliAuthError, bad_response, http_error
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
from exporter.sources.httpclient import (
    Answer,
    classify_transport_error,
    decode_json,
    off_loop,
    parse_retry_after,
    read_limited,
)

_T = TypeVar("_T")

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
    max_items: int = DEFAULT_MAX_ITEMS

    def __repr__(self) -> str:  # keep the password out of any accidental repr
        return f"ClientSettings(url={self.url!r}, username={self.username!r}, auth={self.auth!r})"


class DliClient:
    """One session per device, opened on first use and closed by `aclose()`."""

    def __init__(self, settings: ClientSettings, ctx: SourceContext) -> None:
        self._settings = settings
        self._ctx = ctx
        # What the unit is sent, in every form, so an echo of it is redacted wherever it lands.
        register_secret(settings.password, basic_credential(settings.username, settings.password))
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
                raise PollError("connection", f"ca_file: cannot load certificates ({type(err).__name__})") from None
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
    ) -> Answer:
        session = self._open()
        url = self._base.join(URL(path))
        headers = _CSRF if write else None
        # An empty POST (cycle, reboot) carries no body type, as other clients send it; aiohttp
        # would add `Content-Type: application/octet-stream` on its own.
        skip = ("Content-Type",) if data is None else ()
        async with self._ctx.request(template):
            try:
                async with session.request(
                    method, url, data=data, headers=headers, skip_auto_headers=skip, allow_redirects=False
                ) as resp:
                    body = await read_limited(resp, template)
                    return Answer(resp.status, body, resp.headers.get("Content-Type", ""), dict(resp.headers))
            except Exception as exc:
                if type(exc) is aiohttp.ClientError and self._settings.auth == "digest":
                    # aiohttp's digest middleware refuses a malformed challenge with a bare ClientError
                    # whose text quotes the challenge; the cause is the unit's authentication.
                    raise DliAuthError(f"{template}: unusable Digest challenge", status=401) from None
                raise classify_transport_error(exc, template) from None

    @staticmethod
    def _fail(template: str, resp: Answer, outlet: int | None = None) -> PollError:
        status = resp.status
        if status == 401:
            return DliAuthError(f"{template}: HTTP 401 (wrong username or password)", status=status)
        if status == 403:
            return DliAuthError(f"{template}: HTTP 403 (CSRF check or missing permission)", status=status)
        if status == 409:
            which = f"outlet {outlet} is" if outlet is not None else "outlet is"
            return http_error(f"{template}: HTTP 409 ({which} locked)", status=409)
        if 300 <= status < 400:
            # Units redirect only a path without its trailing slash, which the client never sends;
            # a redirect elsewhere (a loop, another host) is not followed with the credentials.
            return http_error(f"{template}: HTTP {status} (redirects are not followed)", status=status)
        retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
        return http_error(f"{template}: HTTP {status}", status=status, retry_after=retry_after)

    async def _get(
        self, template: str, path: str, parse: Callable[[Any], _T], *, missing_ok: tuple[int, ...] = ()
    ) -> _T | None:
        """GET, decode and parse (off the event loop when big); statuses in `missing_ok` give None."""
        resp = await self._call(template, "GET", path)
        if resp.status in missing_ok:
            return None
        if resp.status not in (200, 207):
            raise self._fail(template, resp)
        return await off_loop(len(resp.body), self._decode, template, resp, parse)

    def _decode(self, template: str, resp: Answer, parse: Callable[[Any], _T]) -> _T:
        """Any failure to read an answer is bad_response with a message, never a stray exception."""
        data = decode_json(resp.body, resp.content_type, template, self._settings.max_items)
        try:
            return parse(data)
        except PollError:
            raise
        except (ArithmeticError, RecursionError, TypeError, ValueError) as exc:
            raise bad_response(f"{template}: unusable value in the answer ({type(exc).__name__})") from None

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
        outlets = await self._get(ep.OUTLETS, "relay/outlets/", lambda raw: parse_outlets(raw, ep.OUTLETS))
        assert outlets is not None  # no status is missing_ok here
        return outlets

    async def outlet(self, outlet: int) -> OutletStatus:
        """One outlet; handy after a write to see what the device now reports."""
        n = self._index(outlet)
        outlet_status = await self._get(ep.OUTLET, f"relay/outlets/{n}/", lambda raw: parse_outlet(n, raw, ep.OUTLET))
        assert outlet_status is not None  # no status is missing_ok here
        return outlet_status

    async def meters(self) -> list[Meter]:
        """The meter map; a unit without meters (404) gives an empty list, not an error."""
        meters = await self._get(
            ep.METERS, "meter/values/", lambda raw: parse_meters(raw, ep.METERS), missing_ok=(404,)
        )
        return [] if meters is None else meters

    async def identity(self) -> Identity:
        """Serial, firmware versions, model and hostname; a field the unit lacks (403/404) is ""."""
        fields: dict[str, str] = {}

        def scalar(template: str) -> Callable[[Any], str]:
            return lambda raw: parse_scalar_text(raw, template)

        for key, template, path in (
            ("serial", ep.SERIAL, "config/serial/"),
            ("firmware_version", ep.VERSION, "config/version/"),
            ("hostname", ep.HOSTNAME, "config/hostname/"),
            ("relay_firmware_version", ep.RELAY_VERSION, "relay/version/"),
            ("model", ep.RELAY_MODEL, "relay/model/"),
        ):
            text = await self._get(template, path, scalar(template), missing_ok=(403, 404))
            fields[key] = text or ""
        return Identity(**fields)

    async def script_threads(self) -> int | None:
        """Running script threads, or None when the user is not an admin (403) or there is no script API."""
        return await self._get(
            ep.THREADS, "script/threads/", lambda raw: parse_threads(raw, ep.THREADS), missing_ok=(403, 404)
        )

    # -- writes (for the action API) ---------------------------------------------

    async def cycle(self, outlet: int) -> WriteResult:
        """Power-cycle an outlet (off, then on after its cycle delay); a no-op on the device if it is off."""
        n = self._index(outlet)
        return await self._write(ep.CYCLE, "POST", f"relay/outlets/{n}/cycle/", "cycle", n)

    async def set_state(self, outlet: int, on: bool) -> WriteResult:
        """Set the persistent state (survives a power cycle or reboot)."""
        n = self._index(outlet)
        data = {"value": "true" if on else "false"}
        return await self._write(ep.SET_STATE, "PUT", f"relay/outlets/{n}/state/", "set_state", n, data)

    async def set_transient_state(self, outlet: int, on: bool) -> WriteResult:
        """Set the transient state (reverts to the persistent state on reboot)."""
        n = self._index(outlet)
        data = {"value": "true" if on else "false"}
        path = f"relay/outlets/{n}/transient_state/"
        return await self._write(ep.SET_TRANSIENT, "PUT", path, "set_transient_state", n, data)

    async def reboot(self) -> WriteResult:
        """Reboot the controller (firmware 1.11.6.0+); outlets fall back to their persistent state."""
        return await self._write(ep.REBOOT, "POST", "system/reboot/", "reboot", None)
