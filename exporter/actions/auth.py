"""Bearer tokens checked in constant time on digests, allow rules, and a brute-force limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.config.actions import ActionsConfig, AllowRule

_MAX_TRACKED_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    digest: bytes
    expires: dt.datetime | None
    allow: tuple[AllowRule, ...]

    def allows(self, action: str, target: str) -> bool:
        return any(
            ("*" in rule.actions or action in rule.actions) and ("*" in rule.targets or target in rule.targets)
            for rule in self.allow
        )

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires is not None and (now or dt.datetime.now(dt.UTC)) >= self.expires


class AuthError(Exception):
    """Why a bearer token was refused; never includes the token itself."""


BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="powerstrip-exporter"'}
"""The header of every 401 for a bearer token (the action API, the remediation endpoints, `/-/reload`)."""


class TokenStore:
    def __init__(self, config: ActionsConfig) -> None:
        tokens = [Token(t.name, t.digest(), t.expires, tuple(t.allow)) for t in config.tokens]
        self.tokens = tuple(tokens)

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def named(self, name: str | None) -> Token | None:
        """The configured token of that name (remediation acts as the one `remediation.token` names)."""
        return next((t for t in self.tokens if t.name == name), None)

    def authenticate(self, authorization: str | None, now: dt.datetime | None = None) -> Token:
        if not authorization:
            raise AuthError("missing bearer token")
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials or " " in credentials:
            raise AuthError("malformed Authorization header; expected 'Bearer <token>'")
        presented = hashlib.sha256(credentials.encode()).digest()
        match: Token | None = None
        for token in self.tokens:  # no early exit: the time taken does not depend on which token matched
            if hmac.compare_digest(presented, token.digest):
                match = token
        if match is None:
            raise AuthError("invalid token")
        if match.expired(now):
            raise AuthError(f"token {match.name!r} expired")
        return match


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(remote: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """Who is asking, for the failure limiter and the audit log.

    Only a peer in `trusted` is believed: each proxy appends the address it received the request from,
    so the rightmost X-Forwarded-For address that is not itself a trusted proxy is the client.
    Everything left of it came from the client and may be forged. When the hop at that point is not
    an address, the proxy chain is not what the config says, and the peer itself is used: requests
    like that share the peer's failure budget."""
    if remote is None:
        return "unknown"
    peer = parse_address(remote)
    if peer is None or not _within(peer, trusted):
        return str(peer) if peer is not None else remote
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    client = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return str(peer)
        client = address
        if not _within(address, trusted):
            break
    return str(client)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: bare, `ip:port` or `[ipv6]:port`. IPv4-mapped IPv6 becomes
    IPv4 (dual-stack proxies write those) and a zone id is dropped (it is free text)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped or ipaddress.IPv6Address(int(ip))
    return ip


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in net for net in networks)


def client_key(address: str) -> str:
    """IPv6 clients are counted per /64: one host usually owns a whole /64."""
    ip = parse_address(address)
    if ip is None:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailureLimiter:
    """Auth failures per client in fixed windows: O(1) memory per client, bounded client count."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def retry_after(self, client: str, now: float | None = None) -> float | None:
        """Seconds until `client` may try again, or None if not blocked."""
        now = time.monotonic() if now is None else now
        entry = self._windows.get(client_key(client))
        if entry is None:
            return None
        started, count = entry
        if now - started >= self.window or count < self.max_failures:
            return None
        return max(1.0, started + self.window - now)

    def record(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = client_key(client)
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        self._windows[key] = (started, count + 1)
        self._windows.move_to_end(key)
        while len(self._windows) > _MAX_TRACKED_CLIENTS:
            self._windows.popitem(last=False)


Unit = tuple[str, str]
"""What an action's target parameter names, with its source: ("dli", "pdu-1"), ("cloudtrax", "1001")."""


class Cooldown:
    """At most one action per thing acted on per `seconds`, whatever the action.

    A thing is a whole unit (a device, a strip: a reboot) or one part of it (an outlet, a port). An
    action on a part waits for that part and for its unit; an action on the whole unit waits for the
    unit and for every part of it, since a reboot right after an outlet cycle would switch that
    outlet again. Two parts of one unit do not wait for each other."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._whole: dict[Unit, float] = {}
        self._parts: dict[tuple[Unit, str], float] = {}
        self._any: dict[Unit, float] = {}
        """The latest action on the unit or any part of it."""

    def remaining(self, unit: Unit, part: str | None = None, now: float | None = None) -> float:
        """Seconds until an action on `part` of `unit` (or on the whole unit, when None) may run."""
        now = time.monotonic() if now is None else now
        if part is None:
            last = self._any.get(unit)
        else:
            last = max(self._whole.get(unit, -math.inf), self._parts.get((unit, part), -math.inf))
        return 0.0 if last is None or last == -math.inf else max(0.0, last + self.seconds - now)

    def start(self, unit: Unit, part: str | None = None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if part is None:
            self._whole[unit] = now
        else:
            self._parts[(unit, part)] = now
        self._any[unit] = now
