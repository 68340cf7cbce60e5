"""Client error paths against canned answers (aioresponses): every reason, no secret leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.errors import (
    CloudTraxError,
    CloudTraxNotFoundError,
)
from tests.cloudtrax.conftest import KEY, SECRET

BASE = "http://cloudtrax.test"
LIST_URL = f"{BASE}/powerstrip/network/12345/list"


def envelope(code: int, message: str, context: str = "authorize", values: dict[str, str] | None = None) -> Any:
    return {"errors": [{"code": code, "message": message, "context": context, "values": values or {}}]}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def ct() -> Any:
    async with CloudTraxClient(KEY, SECRET, base_url=BASE, clock=lambda: 1700000000.0) as c:
        yield c


def assert_no_secrets(err: BaseException) -> None:
    text = f"{err} {err!r} {getattr(err, 'errors', '')}"
    assert KEY not in text
    assert SECRET not in text


async def fail(coro: Any) -> CloudTraxError:
    with pytest.raises(CloudTraxError) as info:
        await coro
    assert_no_secrets(info.value)
    return info.value


@pytest.mark.parametrize("code", [13000, 13001, 13003, 13004, 13009, 13011, 13012, 13015, 13016])
async def test_auth_codes_become_auth(mocked: aioresponses, ct: CloudTraxClient, code: int) -> None:
    mocked.get(LIST_URL, status=401, payload=envelope(code, "Nope."))
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert err.reason == "auth"
    assert err.code == code
    assert err.status == 401
    assert str(err) == f"GET /powerstrip/network/12345/list: HTTP 401: CloudTrax error {code} 'Nope.' (authorize)"


async def test_auth_code_decides_even_with_other_status(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(LIST_URL, status=403, payload=envelope(13007, "Expired key"))
    err = await fail(ct.list_powerstrips(12345))
    assert (err.reason, err.code, err.status) == ("auth", 13007, 403)


async def test_server_message_quoting_the_key_is_redacted(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(
        LIST_URL, status=403, payload=envelope(13005, f"Unauthorized access from key {KEY}.", values={"key": KEY})
    )
    err = await fail(ct.list_powerstrips(12345))
    assert err.reason == "auth"
    assert "<redacted>" in str(err)
    assert err.errors[0].values == {"key": "<redacted>"}


@pytest.mark.parametrize("retry_after", ["17", "Wed, 21 Oct 2099 07:28:00 GMT"])
async def test_429_is_rate_limited_with_retry_after(
    mocked: aioresponses, ct: CloudTraxClient, retry_after: str
) -> None:
    mocked.get(LIST_URL, status=429, body="slow down", headers={"Retry-After": retry_after})
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert err.reason == "rate_limited"
    assert err.retry_after is not None and err.retry_after > 0
    if retry_after == "17":
        assert err.retry_after == 17.0


async def test_429_without_retry_after(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(LIST_URL, status=429)
    err = await fail(ct.list_powerstrips(12345))
    assert (err.reason, err.retry_after) == ("rate_limited", None)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_http_status(mocked: aioresponses, ct: CloudTraxClient, status: int) -> None:
    mocked.get(LIST_URL, status=status, body="<html><body>Bad gateway</body></html>", content_type="text/html")
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert err.reason == "http_status"
    assert str(err) == f"GET /powerstrip/network/12345/list: HTTP {status}: an HTML page"


async def test_5xx_envelope_keeps_the_code(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(LIST_URL, status=500, payload=envelope(1016, "Internal error.", "server"))
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert (err.reason, err.code) == ("http_status", 1016)


async def test_not_found_code(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(f"{BASE}/powerstrip/9", status=404, payload=envelope(1017, "Element not found.", "powerstrip_id"))
    err = await fail(ct.get_powerstrip(9))
    assert isinstance(err, CloudTraxNotFoundError)
    assert (err.reason, err.code) == ("http_status", 1017)


async def test_validation_error_envelope(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.post(
        f"{BASE}/powerstrip/network/12345",
        status=403,
        payload={
            "errors": [
                {"code": 1008, "message": "Mac address (zz) is in the wrong format.", "context": "mac", "values": {}},
                {"code": 1005, "message": "Name cannot be empty.", "context": "name", "values": {}},
            ]
        },
    )
    err = await fail(ct.create_powerstrip(12345, mac="zz", name=""))
    assert type(err) is CloudTraxError
    assert err.codes == (1008, 1005)
    assert str(err).endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"<!DOCTYPE html><html><body>Login</body></html>", "text/html", "expected JSON, got an HTML page"),
        (b'{"powerstrips": [', "application/json", "malformed JSON"),
        (b"[]", "application/json", "expected a JSON object, got a list"),
        (b'"text"', "application/json", "expected a JSON object, got str"),
        (b'{"powerstrips": {"a": 1}}', "application/json", "unexpected response shape: powerstrips"),
        (b"{}", "application/json", "unexpected response shape: powerstrips: Field required"),
    ],
    ids=["html", "malformed", "list", "string", "wrong-inner-type", "missing-key"],
)
async def test_bad_response(
    mocked: aioresponses, ct: CloudTraxClient, body: bytes, content_type: str, message: str
) -> None:
    mocked.get(LIST_URL, status=200, body=body, content_type=content_type)
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert err.reason == "bad_response"
    assert message in str(err)


async def test_envelope_on_200_is_still_an_error(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(LIST_URL, status=200, payload=envelope(13011, "Unknown key."))
    err = await fail(ct.list_powerstrips(12345))
    assert (err.reason, err.code) == ("auth", 13011)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (aiohttp.ClientConnectionError("refused"), "connection"),
        (aiohttp.ServerDisconnectedError(), "connection"),
        (TimeoutError(), "timeout"),
    ],
)
async def test_transport_failures(mocked: aioresponses, ct: CloudTraxClient, exc: Exception, reason: str) -> None:
    mocked.get(LIST_URL, exception=exc)
    err = await fail(ct.list_powerstrips(12345))
    assert type(err) is CloudTraxError
    assert err.reason == reason


async def test_clock_skew_is_corrected_from_time_and_retried_once(mocked: aioresponses, ct: CloudTraxClient) -> None:
    seen: list[int] = []

    def record(url: Any, **kwargs: Any) -> CallbackResult:
        auth = kwargs["headers"]["Authorization"]
        seen.append(int(auth.split("timestamp=")[1].split(",")[0]))
        if len(seen) == 1:
            return CallbackResult(status=401, payload=envelope(13002, "Timestamp too old or in the future."))
        return CallbackResult(status=200, payload={"powerstrips": []})

    mocked.get(LIST_URL, callback=record, repeat=True)
    mocked.get(f"{BASE}/time", payload={"time": "2023-11-14T23:13:20Z"})  # 1700003600: an hour ahead
    assert await ct.list_powerstrips(12345) == []
    assert seen == [1700000000, 1700003600]
    assert ct.clock_offset == 3600.0


async def test_clock_skew_twice_gives_up(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(LIST_URL, status=401, payload=envelope(13002, "Timestamp too old or in the future."), repeat=True)
    mocked.get(f"{BASE}/time", payload={"time": "2023-11-14T23:13:20Z"})
    err = await fail(ct.list_powerstrips(12345))
    assert (err.reason, err.code) == ("auth", 13002)
    calls = {str(k[1]): len(v) for k, v in mocked.requests.items()}
    assert calls == {LIST_URL: 2, f"{BASE}/time": 1}


async def test_clock_skew_falls_back_to_the_date_header(mocked: aioresponses, ct: CloudTraxClient) -> None:
    skewed = envelope(13002, "Timestamp too old or in the future.")
    mocked.get(LIST_URL, status=401, payload=skewed, headers={"Date": "Tue, 14 Nov 2023 22:03:20 GMT"})
    mocked.get(f"{BASE}/time", status=401, payload=skewed)
    mocked.get(LIST_URL, payload={"powerstrips": []})
    assert await ct.list_powerstrips(12345) == []
    assert ct.clock_offset == -600.0


async def test_put_signs_exactly_the_bytes_it_sends(mocked: aioresponses, ct: CloudTraxClient) -> None:
    captured: dict[str, Any] = {}

    def record(url: Any, **kwargs: Any) -> CallbackResult:
        captured.update(kwargs)
        return CallbackResult(status=200, payload={"code": 1009, "message": "Success.", "context": "x", "values": {}})

    mocked.put(f"{BASE}/powerstrip/123456", callback=record)
    result = await ct.update_powerstrip(123456, {"name": "garage"})
    assert result.code == 1009
    body = captured["data"]
    assert body == b'{"name":"garage"}'
    auth = captured["headers"]["Authorization"]
    expected = hmac.new(SECRET.encode(), auth.encode() + b"/powerstrip/123456" + body, hashlib.sha256).hexdigest()
    assert captured["headers"]["Signature"] == expected
    assert json.loads(body) == {"name": "garage"}


async def test_usage_signs_the_query_string(mocked: aioresponses, ct: CloudTraxClient) -> None:
    captured: dict[str, Any] = {}

    def record(url: Any, **kwargs: Any) -> CallbackResult:
        captured.update(kwargs)
        return CallbackResult(status=200, payload={"usage": []})

    mocked.get(f"{BASE}/powerstrip/123456/usage?period=day", callback=record)
    assert await ct.get_usage(123456, "day") == []
    auth = captured["headers"]["Authorization"]
    message = auth.encode() + b"/powerstrip/123456/usage?period=day"
    assert captured["headers"]["Signature"] == hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


async def test_action_accepts_any_2xx_body(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(f"{BASE}/powerstrip/5/reboot", status=200, body=b"")
    mocked.get(f"{BASE}/powerstrip/5/checkin", status=204)
    mocked.get(f"{BASE}/powerstrip/5/enable_pairing", status=200, body=b"OK", content_type="text/plain")
    assert (await ct.reboot_powerstrip(5)).status == 200
    assert (await ct.checkin_powerstrip(5)).status == 204
    assert (await ct.enable_pairing(5)).code is None


async def test_action_error_is_typed(mocked: aioresponses, ct: CloudTraxClient) -> None:
    mocked.get(f"{BASE}/powerstrip/5/port/9/reset", status=404, payload=envelope(1017, "Element not found.", "port_id"))
    err = await fail(ct.reset_port(5, 9))
    assert isinstance(err, CloudTraxNotFoundError)


@pytest.mark.parametrize("bad", [0, -1, True, "7"])
async def test_ids_are_checked_before_sending(ct: CloudTraxClient, bad: Any) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        await ct.get_powerstrip(bad)


def test_repr_hides_credentials() -> None:
    c = CloudTraxClient(KEY, SECRET, base_url=BASE)
    assert KEY not in repr(c) and SECRET not in repr(c)
    assert KEY not in str(vars(c).get("base_url"))
