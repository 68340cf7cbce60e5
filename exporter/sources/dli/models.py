"""Typed views of DLI responses, parsed strictly enough to catch a wrong shape."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from exporter.sources.dli.errors import bad_response

#: Meter values are float32 on the device: a zero reads as the smallest denormal
#: (1.4e-45). Anything this small is noise, not a measurement.
NOISE_FLOOR = 1e-6

OUTLET_BOOL_FIELDS = ("state", "transient_state", "physical_state", "locked", "critical")


def denoise(value: float) -> float:
    return 0.0 if abs(value) < NOISE_FLOOR else value


@dataclass(frozen=True, slots=True)
class OutletStatus:
    """One outlet as `relay/outlets/` reports it; `index` is 0-based like the API."""

    index: int
    name: str
    state: bool
    transient_state: bool
    physical_state: bool
    locked: bool
    critical: bool
    cycle_delay: float | None


@dataclass(frozen=True, slots=True)
class Meter:
    """One entry of the `meter/values/` map; `value` is None when the device has none."""

    key: str
    name: str
    quantity: str
    bus: str | None
    value: float | None


@dataclass(frozen=True, slots=True)
class Identity:
    """Slow-changing device facts; "" where the device did not say."""

    serial: str = ""
    firmware_version: str = ""
    relay_firmware_version: str = ""
    model: str = ""
    hostname: str = ""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a state-changing call did: the action, the outlet if any, and the HTTP status."""

    action: str
    outlet: int | None
    status: int


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: int | float, what: str) -> float:
    """A JSON number as a float; an integer beyond any float (10^400) is a wrong answer, not a crash."""
    try:
        return float(value)
    except OverflowError:
        raise bad_response(f"{what} is too large a number") from None


def parse_outlet(index: int, raw: Any, what: str) -> OutletStatus:
    if not isinstance(raw, dict):
        raise bad_response(f"{what}: outlet {index} is not an object")
    name = raw.get("name")
    if not isinstance(name, str):
        raise bad_response(f"{what}: outlet {index}: name is not a string")
    flags: dict[str, bool] = {}
    for field in OUTLET_BOOL_FIELDS:
        value = raw.get(field)
        if not isinstance(value, bool):
            raise bad_response(f"{what}: outlet {index}: {field} is not a boolean")
        flags[field] = value
    delay = raw.get("cycle_delay")
    if delay is not None and not _is_number(delay):
        raise bad_response(f"{what}: outlet {index}: cycle_delay is not a number")
    return OutletStatus(
        index=index,
        name=name,
        cycle_delay=None if delay is None else _as_float(delay, f"{what}: outlet {index}: cycle_delay"),
        **flags,
    )


def parse_outlets(raw: Any, what: str) -> list[OutletStatus]:
    if not isinstance(raw, list):
        raise bad_response(f"{what}: expected a list of outlets, got {type(raw).__name__}")
    return [parse_outlet(i, item, what) for i, item in enumerate(raw)]


def parse_meters(raw: Any, what: str) -> list[Meter]:
    """The `meter/values/` map. Values are de-noised; a null value stays None."""
    if not isinstance(raw, dict):
        raise bad_response(f"{what}: expected a map of meters, got {type(raw).__name__}")
    meters: list[Meter] = []
    for key, item in raw.items():
        if not isinstance(item, dict):
            raise bad_response(f"{what}: meter {key!r} is not an object")
        quantity = item.get("quantity")
        if not isinstance(quantity, str):
            raise bad_response(f"{what}: meter {key!r}: quantity is not a string")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise bad_response(f"{what}: meter {key!r}: name is not a string")
        bus = item.get("bus")
        if bus is not None and not (isinstance(bus, str) or _is_number(bus)):
            raise bad_response(f"{what}: meter {key!r}: bus is not an index")
        value = item.get("value")
        if value is not None and not _is_number(value):
            raise bad_response(f"{what}: meter {key!r}: value is not a number")
        number = None if value is None else _as_float(value, f"{what}: meter {key!r}: value")
        fvalue = None if number is None or not math.isfinite(number) else denoise(number)
        meters.append(
            Meter(
                key=key,
                name=name if name is not None else key,
                quantity=quantity,
                bus=None if bus is None else str(bus),
                value=fvalue,
            )
        )
    return meters


def parse_scalar_text(raw: Any, what: str) -> str:
    """Identity fields are bare JSON scalars; anything structured is a wrong shape."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    raise bad_response(f"{what}: expected a single value, got {type(raw).__name__}")


def parse_threads(raw: Any, what: str) -> int:
    """`script/threads/` is a map of thread id to description; we only count it."""
    if not isinstance(raw, dict):
        raise bad_response(f"{what}: expected a map of threads, got {type(raw).__name__}")
    return len(raw)
