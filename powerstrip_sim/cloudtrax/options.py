"""Simulator behaviour the vendor does not document (GUESS items), each one a knob.

Defaults follow the recommendations in the API reference; `docs/sources/cloudtrax.md`
lists every knob. Changing one lets a test check that the exporter does not
depend on a guess being right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from powerstrip_sim.mains import NORTH_AMERICA, Mains

DEFAULT_AUTH_STATUS: dict[int, int] = {
    13000: 401,
    13001: 401,
    13002: 401,
    13003: 401,
    13004: 400,
    13005: 403,
    13006: 403,
    13007: 403,
    13008: 403,
    13009: 403,
    13010: 403,
    13011: 401,
    13012: 401,
    13015: 401,
    13016: 401,
}
"""GUESS: the HTTP status for each auth error code (undocumented)."""

DEFAULT_USAGE_LAYOUT: dict[str, tuple[int, int]] = {
    "2hours": (24, 300),
    "day": (288, 300),
    "week": (288, 2100),
    "month": (288, 9300),
}
"""GUESS: (samples, spacing seconds) per usage period, borrowed from the network history API."""


@dataclass
class SimulatorOptions:
    """Every undocumented behaviour the simulator has to pick, with the default it picks."""

    auth_status: dict[int, int] = field(default_factory=lambda: dict(DEFAULT_AUTH_STATUS))
    skew_tolerance_seconds: float = 900.0
    """VERIFIED: 15 minutes."""
    nonce_window_seconds: float = 1800.0
    """VERIFIED range 15-30 minutes; the simulator remembers nonces for the longest."""
    max_nonce_length: int = 64
    """GUESS: 13012 exists but its maximum is not documented."""
    query_signing: Literal["strict", "lenient"] = "strict"
    """INFERRED: the signed path includes the query string. `lenient` also accepts the path alone."""
    api_versions: tuple[str, ...] = ("0", "1")
    """VERIFIED: a missing OpenMesh-API-Version header is version 0 ("0 assumed if this header is
    missing", vendor README). GUESS: versions 0 and 1 answer alike (nothing documents a difference);
    any other version is 13004. Empty: accept any version."""
    time_requires_auth: bool = False
    """GUESS: whether `GET /time` needs a valid signature. Clients sign it either way."""
    action_body: Literal["envelope", "empty"] = "envelope"
    """GUESS: what update/delete/actions return on success: the 1009 element or an empty body."""
    usage_layout: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_USAGE_LAYOUT))
    usage_order: Literal["oldest_first", "newest_first"] = "oldest_first"
    """GUESS: order of usage samples."""
    partial_update: bool = True
    """GUESS: PUT changes only the fields given (as node update is documented to)."""
    new_strip_status: Literal["up", "down"] = "up"
    """GUESS: whether a strip created through the API is online at once (its device is plugged in)."""
    pairing_clears_need_pairing: bool = True
    """GUESS: `enable_pairing` completes pairing, so `need_pairing` turns false."""
    checkin_interval_seconds: float = 60.0
    """GUESS: how often an online strip checks in (last_checkin advances in these steps)."""
    port_reset_seconds: float = 5.0
    """GUESS: how long a reset port reads zero before power returns."""
    reboot_seconds: float = 10.0
    """GUESS: how long all ports read zero after a reboot (uptime restarts at the reboot)."""
    rate_limit_per_second: float | None = None
    """GUESS: an optional token bucket over all API requests; empty answers 429 with Retry-After."""
    rate_limit_burst: int = 20
    mains: Mains = NORTH_AMERICA
    """The supply generated strips read (voltage, frequency); one network can be given another."""
