"""Client error paths with aioresponses (no server): status mapping, shapes, transport errors, no secrets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from exporter.sources.api import PollError, SourceContext
from exporter.sources.dli.client import ClientSettings, DliClient
from exporter.sources.dli.endpoints import ALL_ENDPOINTS
from exporter.sources.dli.errors import DliAuthError
from exporter.sources.dli.models import Identity
from exporter.sources.dli.source import DliSource
from tests.dli.conftest import PASSWORD

BASE = "http://dli.test"
OUTLET = {
    "name": "Outlet 1",
    "state": True,
    "transient_state": True,
    "physical_state": True,
    "locked": False,
    "critical": False,
    "cycle_delay": None,
}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def observe_api_request(self, source: str, endpoint: str, seconds: float) -> None:
        self.calls.append(endpoint)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[DliClient]:
    c = DliClient(ClientSettings(BASE, "admin", PASSWORD, timeout=2.0), SourceContext("dli", 4, recorder))
    yield c
    await c.aclose()


@pytest.fixture
def mock() -> AsyncIterator[aioresponses]:
    with aioresponses() as m:
        yield m


def url(path: str) -> str:
    return f"{BASE}/restapi/{path}"


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (401, DliAuthError, "auth"),
        (403, DliAuthError, "auth"),
        (404, PollError, "http_status"),
        (500, PollError, "http_status"),
        (502, PollError, "http_status"),
        (503, PollError, "http_status"),
    ],
)
async def test_status_mapping_on_reads(
    client: DliClient, mock: aioresponses, status: int, error: type[PollError], reason: str
) -> None:
    mock.get(url("relay/outlets/"), status=status, body="nope")
    with pytest.raises(error) as info:
        await client.outlets()
    assert info.value.reason == reason
    assert str(info.value).startswith(f"GET /restapi/relay/outlets/: HTTP {status}")
    assert PASSWORD not in str(info.value)


async def test_429_is_rate_limited_with_retry_after(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("relay/outlets/"), status=429, headers={"Retry-After": "7"})
    with pytest.raises(PollError) as info:
        await client.outlets()
    assert (info.value.reason, info.value.retry_after) == ("rate_limited", 7.0)


@pytest.mark.parametrize("call", ["cycle", "set_state", "set_transient_state"])
async def test_409_is_locked_outlet(client: DliClient, mock: aioresponses, call: str) -> None:
    mock.post(url("relay/outlets/5/cycle/"), status=409)
    mock.put(url("relay/outlets/5/state/"), status=409)
    mock.put(url("relay/outlets/5/transient_state/"), status=409)
    args: tuple[Any, ...] = (5,) if call == "cycle" else (5, True)
    with pytest.raises(PollError) as info:
        await getattr(client, call)(*args)
    assert (info.value.reason, info.value.status) == ("http_status", 409)
    assert "outlet 5 is locked" in str(info.value)


async def test_writes_send_csrf_and_lowercase_values(client: DliClient, mock: aioresponses) -> None:
    mock.put(url("relay/outlets/2/state/"), status=204)
    mock.put(url("relay/outlets/2/transient_state/"), status=204)
    mock.post(url("relay/outlets/2/cycle/"), status=204)
    mock.post(url("system/reboot/"), status=204)
    await client.set_state(2, False)
    await client.set_transient_state(2, True)
    await client.cycle(2)
    await client.reboot()
    sent = [(method, str(u), kw) for (method, u), calls in mock.requests.items() for kw in [c.kwargs for c in calls]]
    for _method, _u, kw in sent:
        assert kw["headers"]["X-CSRF"] == "x"
        assert kw["headers"]["Accept"] == "application/json"
    data = {str(u): kw.get("data") for _m, u, kw in sent}
    assert data[url("relay/outlets/2/state/")] == {"value": "false"}
    assert data[url("relay/outlets/2/transient_state/")] == {"value": "true"}


async def test_reads_send_no_csrf(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("relay/outlets/"), payload=[OUTLET])
    await client.outlets()
    ((_, calls),) = mock.requests.items()
    headers = calls[0].kwargs["headers"]
    assert headers["Accept"] == "application/json"
    assert "X-CSRF" not in headers


async def test_write_unexpected_status(client: DliClient, mock: aioresponses) -> None:
    mock.post(url("system/reboot/"), status=500)
    with pytest.raises(PollError):
        await client.reboot()


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        ("<html><body>Login</body></html>", "text/html", "expected JSON, got an HTML page"),
        ("[{", "application/json", "malformed JSON"),
        ("", "application/json", "malformed JSON"),
        ('{"0": {}}', "application/json", "expected a list of outlets, got dict"),
        ("[1]", "application/json", "outlet 0 is not an object"),
        ('[{"name": "x"}]', "application/json", "outlet 0: state is not a boolean"),
        ('[{"name": 3, "state": true}]', "application/json", "outlet 0: name is not a string"),
    ],
)
async def test_bad_outlet_responses(client: DliClient, mock: aioresponses, body: str, ctype: str, message: str) -> None:
    mock.get(url("relay/outlets/"), body=body, content_type=ctype)
    with pytest.raises(PollError) as info:
        await client.outlets()
    assert info.value.reason == "bad_response"
    assert message in str(info.value)


async def test_outlet_state_as_string_is_bad_response(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("relay/outlets/"), payload=[{**OUTLET, "physical_state": "true"}])
    with pytest.raises(PollError, match="physical_state is not a boolean") as bad:
        await client.outlets()
    assert bad.value.reason == "bad_response"


async def test_outlets_parse(client: DliClient, mock: aioresponses) -> None:
    second = {**OUTLET, "name": "NAS", "state": False, "cycle_delay": 10, "extra": "ignored"}
    mock.get(url("relay/outlets/"), payload=[OUTLET, second])
    outlets = await client.outlets()
    assert [(o.index, o.name, o.state, o.cycle_delay) for o in outlets] == [
        (0, "Outlet 1", True, None),
        (1, "NAS", False, 10.0),
    ]


async def test_meters_absent_is_empty(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("meter/values/"), status=404)
    assert await client.meters() == []


async def test_meters_noise_rounding(client: DliClient, mock: aioresponses) -> None:
    values = {"zero": 1.4e-45, "tiny": 5e-7, "neg": -5e-7, "small": 1e-5, "null": None, "big": 118.25}
    mock.get(
        url("meter/values/"),
        payload={k: {"name": k, "quantity": "current", "bus": 0, "value": v} for k, v in values.items()},
    )
    got = {m.key: m.value for m in await client.meters()}
    assert got == {"zero": 0.0, "tiny": 0.0, "neg": 0.0, "small": 1e-5, "null": None, "big": 118.25}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a map of meters, got list"),
        ({"a": 1}, "meter 'a' is not an object"),
        ({"a": {"value": 1}}, "meter 'a': quantity is not a string"),
        ({"a": {"quantity": "voltage", "value": "120"}}, "meter 'a': value is not a number"),
        ({"a": {"quantity": "voltage", "bus": [0]}}, "meter 'a': bus is not an index"),
    ],
)
async def test_bad_meter_shapes(client: DliClient, mock: aioresponses, payload: Any, message: str) -> None:
    mock.get(url("meter/values/"), payload=payload)
    with pytest.raises(PollError, match=re.escape(message)) as bad:
        await client.meters()
    assert bad.value.reason == "bad_response"


async def test_identity_fields_missing_are_empty(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("config/serial/"), payload="LPC9X")
    mock.get(url("config/version/"), payload="1.13.16.0")
    mock.get(url("config/hostname/"), status=403)
    mock.get(url("relay/version/"), status=404)
    mock.get(url("relay/model/"), payload="LPC9")
    assert await client.identity() == Identity("LPC9X", "1.13.16.0", "", "LPC9", "")


async def test_identity_structured_value_is_bad_response(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("config/serial/"), payload={"serial": "x"})
    with pytest.raises(PollError, match="expected a single value") as bad:
        await client.identity()
    assert bad.value.reason == "bad_response"


async def test_identity_401_is_auth(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("config/serial/"), status=401)
    with pytest.raises(DliAuthError):
        await client.identity()


@pytest.mark.parametrize("status", [403, 404])
async def test_script_threads_skipped_when_denied(client: DliClient, mock: aioresponses, status: int) -> None:
    mock.get(url("script/threads/"), status=status)
    assert await client.script_threads() is None


async def test_script_threads_counted(client: DliClient, mock: aioresponses) -> None:
    mock.get(url("script/threads/"), payload={"1": {"label": "a"}, "7": {"label": "b"}})
    assert await client.script_threads() == 2
    mock.get(url("script/threads/"), payload=["1"])
    with pytest.raises(PollError) as bad:
        await client.script_threads()
    assert bad.value.reason == "bad_response"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (aiohttp.ClientConnectionError("refused"), "connection"),
        (aiohttp.ServerDisconnectedError(), "connection"),
        (TimeoutError(), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
    ],
)
async def test_transport_errors(client: DliClient, mock: aioresponses, exc: Exception, reason: str) -> None:
    mock.get(url("relay/outlets/"), exception=exc)
    with pytest.raises(PollError) as info:
        await client.outlets()
    assert info.value.reason == reason
    assert PASSWORD not in str(info.value)


async def test_every_call_is_instrumented_with_a_declared_template(
    client: DliClient, mock: aioresponses, recorder: Recorder
) -> None:
    mock.get(url("relay/outlets/"), payload=[OUTLET])
    mock.get(url("relay/outlets/0/"), payload=OUTLET)
    mock.get(url("meter/values/"), payload={})
    for path in ("config/serial/", "config/version/", "config/hostname/", "relay/version/", "relay/model/"):
        mock.get(url(path), payload="x")
    mock.get(url("script/threads/"), payload={})
    mock.post(url("relay/outlets/0/cycle/"), status=204)
    mock.put(url("relay/outlets/0/state/"), status=204)
    mock.put(url("relay/outlets/0/transient_state/"), status=204)
    mock.post(url("system/reboot/"), status=204)
    await client.outlets()
    await client.outlet(0)
    await client.meters()
    await client.identity()
    await client.script_threads()
    await client.cycle(0)
    await client.set_state(0, True)
    await client.set_transient_state(0, True)
    await client.reboot()
    assert sorted(recorder.calls) == sorted(ALL_ENDPOINTS)
    assert DliSource.api_endpoints == ALL_ENDPOINTS


def test_settings_repr_hides_password() -> None:
    settings = ClientSettings(BASE, "admin", PASSWORD)
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_not_followed(client: DliClient, mock: aioresponses, status: int) -> None:
    """A unit redirects only a path without its slash, which the client never sends: a redirect
    elsewhere (a loop, another host) fails the call instead of taking the credentials along."""
    mock.get(url("relay/outlets/"), status=status, headers={"Location": "http://elsewhere.invalid/restapi/"})
    with pytest.raises(PollError, match="redirects are not followed") as info:
        await client.outlets()
    assert info.value.reason == "http_status"
    assert info.value.status == status
    assert len(mock.requests) == 1
