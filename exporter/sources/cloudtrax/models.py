"""Typed, tolerant views of CloudTrax power-strip responses.

The documents disagree with themselves in places (`ip` is `""` in one example
and `null` in another; `last_checkin` is `""` or carries 0-3 fractional digits;
numbers are ints or floats; `lifecycle`/`subscription` are null or objects), and
fields were added over the years. So scalar fields accept every documented
variant, unknown fields are ignored, and only ids and container shapes are
required. What cannot be meant at all is rejected by the client as `bad_response`.

Lists stop at their first invalid element (`FailFast`): a hostile answer of a
million wrongly typed items costs one error, not a million error objects.

Most values in an answer are already of the plain JSON type their field means (a float, a
string, `true`): `NativeFirst` lets pydantic-core take those as they are, so validating an
answer calls no Python per field; only the other variants go through the tolerant parsers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    FailFast,
    Field,
    GetCoreSchemaHandler,
    Strict,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import CoreSchema, core_schema


def parse_time(value: object) -> datetime | None:
    """ISO 8601 / RFC 3339 with any number of fractional digits; `""` and null mean unknown."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected an ISO 8601 time, got {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"expected an ISO 8601 time, got {type(value).__name__}")


def _number(value: object) -> float | None:
    """int, float or numeric string; anything else (null, "", garbage) is unknown, not zero."""
    if value is None or isinstance(value, bool):
        return float(value) if isinstance(value, bool) else None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an integer beyond any float: not a reading
            raise ValueError("number too large") from None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _reading(value: object) -> float | None:
    """Like `_number`, but NaN and infinities stay as they are, so the energy ledger can refuse
    them by name instead of seeing a hole."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    if isinstance(value, str) and value.strip().lower() in {"nan", "inf", "+inf", "-inf", "infinity", "-infinity"}:
        return float(value.strip())
    return _number(value)


def _flag(value: object) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1", "yes", "on"}:
            return True
        if lowered in {"false", "0", "no", "off"}:
            return False
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _optional_text(value: object) -> str | None:
    text = _text(value)
    return text or None


def _object_or_none(value: object) -> object:
    """lifecycle/subscription: null or an object; any other shape is treated as unknown."""
    return value if isinstance(value, dict) else None


def _list_or_empty(value: object) -> object:
    return [] if value is None else value


MAX_ID = 2**63 - 1
"""Ids go into URL paths and labels; anything beyond a signed 64-bit integer is not an id."""


def _identifier(value: object) -> object:
    """Ids are integers; accept `"12"` and `12.0` but never booleans, fractions or huge numbers."""
    if isinstance(value, bool):
        raise ValueError("expected an integer id, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and abs(value) > MAX_ID:
        raise ValueError("id out of range")
    return value


NATIVE = "native"
TOLERANT = "tolerant"
"""The labels of `NativeFirst`'s two branches in a validation error's location."""


class NativeFirst:
    """Annotation: a value `native` (a type, or a pydantic-core schema) accepts is taken by pydantic-core
    as it is; any other goes through the annotations to the left (the tolerant parser) as before.
    `native` must accept only values the tolerant parser reads the same, so the result is the same
    either way, only cheaper."""

    def __init__(self, native: Any) -> None:
        self.native = native

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        native = self.native if isinstance(self.native, dict) else handler.generate_schema(self.native)
        return core_schema.union_schema([(native, NATIVE), (handler(source), TOLERANT)], mode="left_to_right")


_FLOAT = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite JSON number: what `_number` and `_reading` return unchanged (a number too big for a
float becomes infinite here, so it takes the tolerant path, which refuses it)."""
_STR = Annotated[str, Strict()]

_ISO_TIME = core_schema.nullable_schema(
    core_schema.chain_schema(
        [
            core_schema.str_schema(strict=True, pattern=r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d"),
            core_schema.datetime_schema(tz_constraint="aware"),
        ]
    )
)
"""A date and time with its offset, as CloudTrax writes them (pydantic-core would also read a number,
or a string of one, as seconds since the epoch: those take the tolerant path, which refuses them)."""

Timestamp = Annotated[datetime | None, BeforeValidator(parse_time), NativeFirst(_ISO_TIME)]
Number = Annotated[float | None, BeforeValidator(_number), NativeFirst(_FLOAT | None)]
Reading = Annotated[float | None, BeforeValidator(_reading), NativeFirst(_FLOAT | None)]
Flag = Annotated[bool | None, BeforeValidator(_flag), NativeFirst(Annotated[bool, Strict()] | None)]
Text = Annotated[str, BeforeValidator(_text), NativeFirst(_STR)]
OptText = Annotated[
    str | None, BeforeValidator(_optional_text), NativeFirst(Annotated[_STR, Field(min_length=1)] | None)
]
_STRICT_ID = Annotated[int, Strict(), Field(ge=-MAX_ID, le=MAX_ID)]
Id = Annotated[int, BeforeValidator(_identifier), NativeFirst(_STRICT_ID)]
OptId = Annotated[int | None, BeforeValidator(_identifier), NativeFirst(_STRICT_ID | None)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_PART = ConfigDict(extra="ignore")
"""The parts inside an answer (a strip's ports, its lifecycle...) are slotted dataclasses, not models: one
object each instead of a model, its fields and the set of fields given, for the thousands a poll reads."""


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class Lifecycle:
    """Model end-of-sale/end-of-life dates (added 2024); null values mean "ask Datto"."""

    end_of_sale: Timestamp = None
    end_of_life: Timestamp = None


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class Subscription:
    is_active: Flag = None
    start_date: Timestamp = None
    end_date: Timestamp = None
    term: OptText = None
    term_length: Number = None
    is_evergreen: Flag = None


class PowerStripSummary(_Model):
    """One element of `GET /powerstrip/network/<id>/list`."""

    powerstrip_id: Id
    mac: Text = ""
    name: Text = ""
    model: Text = ""
    ip: OptText = None
    created: Timestamp = None
    firmware_version: Text = ""
    enabled_ports: Number = None
    port_count: Number = None
    last_checkin: Timestamp = None
    need_pairing: Flag = None
    cloud_status: Text = ""
    role: Text = ""
    mesh_ip: OptText = None
    lifecycle: Annotated[Lifecycle | None, BeforeValidator(_object_or_none), NativeFirst(Lifecycle | None)] = None
    subscription: Annotated[Subscription | None, BeforeValidator(_object_or_none), NativeFirst(Subscription | None)] = (
        None
    )
    surge_protection_active: Flag = None
    voltage_v: Number = None
    frequency_hz: Number = None
    uptime_seconds: Number = None
    active_ports: Number = None

    @property
    def is_up(self) -> bool:
        return self.cloud_status.strip().lower() == "up"


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class Port:
    port_id: Id
    label: Text = ""
    enable: Flag = None
    connection_check_name: OptText = None
    current_a: Number = None
    apparent_power_va: Number = None
    active_power_w: Number = None
    reactive_power_var: Number = None
    power_factor: Number = None


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class ScheduleEntry:
    powerstrip_port_schedule_id: OptId = None
    port_ids: Annotated[list[int], FailFast(), BeforeValidator(_list_or_empty)] = Field(default_factory=list)
    days_of_week: Annotated[list[str], FailFast(), BeforeValidator(_list_or_empty)] = Field(default_factory=list)
    hour: Number = None
    minute: Number = None
    action: Text = ""


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class ConnectionCheck:
    connection_check_name: Text = ""
    hostname_1: OptText = None
    hostname_2: OptText = None
    hostname_3: OptText = None
    hostname_4: OptText = None


class PowerStrip(PowerStripSummary):
    """`GET /powerstrip/<id>`: the list fields (minus port counts) plus settings and ports."""

    network_id: OptId = None
    description: Text = ""
    enable_pairing: Flag = None
    enable_power_switch: Flag = None
    enable_connection_check: Flag = None
    enable_connection_check_during_maintenance: Flag = None
    connection_check_max_retries: Number = None
    connection_check_time_between_retries: Number = None
    enable_mesh: Flag = None
    last_modified: Timestamp = None
    ports: Annotated[
        list[Port], FailFast(), BeforeValidator(_list_or_empty), NativeFirst(Annotated[list[Port], FailFast()])
    ] = Field(default_factory=list)
    schedule: Annotated[list[ScheduleEntry], FailFast(), BeforeValidator(_list_or_empty)] = Field(default_factory=list)
    connection_checks: Annotated[list[ConnectionCheck], FailFast(), BeforeValidator(_list_or_empty)] = Field(
        default_factory=list
    )


@pydantic_dataclass(frozen=True, slots=True, config=_PART)
class UsagePort:
    active_power_w: Reading = None
    """Not bounded here: the energy ledger checks each reading and counts what it refuses."""
    voltage_v: Number = None
    current_a: Number = None


class UsageSample(_Model):
    """One point of `GET /powerstrip/<id>/usage`; `ports` is keyed by port id as a string."""

    time: datetime
    ports: Annotated[dict[str, UsagePort], BeforeValidator(lambda v: {} if v is None else v)] = Field(
        default_factory=dict
    )
    memory_available: Number = None
    role: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _time(cls, data: Any) -> Any:
        if isinstance(data, dict) and "time" in data:
            data = {**data, "time": parse_time(data["time"])}
        return data


class NetworkSettings(_Model):
    """`GET /powerstrip/network/<id>/settings`."""

    enable_power_switch: Flag = None
    enable_mesh: Flag = None
    enable_upgrade: Flag = None
    firmware_tag: OptText = None


class FirmwareVersion(_Model):
    """One allowed firmware; `tag_id` is a string in the docs, kept as text."""

    tag_id: Text = ""
    tag: Text = ""
    build: Text = ""


class Network(_Model):
    """One element of `GET /network/list`; api-v2 also sends `network_id` (= `id`)."""

    id: Id
    name: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _network_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" not in data and "network_id" in data:
            data = {**data, "id": data["network_id"]}
        return data


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Outcome of a call with no payload of its own (update, delete, reboot, reset, ...).

    Any 2xx is success. When the server sends the "1009 Success" element, its
    code, message and context are kept; otherwise they are None/"".
    """

    status: int
    code: int | None = None
    message: str = ""
    context: str = ""


# Response envelopes: the client validates whole bodies through these.


class PowerStripList(_Model):
    powerstrips: Annotated[
        list[PowerStripSummary],
        FailFast(),
        BeforeValidator(_list_or_empty),
        NativeFirst(Annotated[list[PowerStripSummary], FailFast()]),
    ]


class CreatedPowerStrip(_Model):
    powerstrip_id: Id


def _timed_samples(value: object) -> object:
    """Usage points without a time cannot be placed on the time line; they are dropped."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if not (isinstance(v, dict) and v.get("time") in (None, ""))]
    return value


class UsageResponse(_Model):
    usage: Annotated[list[UsageSample], FailFast(), BeforeValidator(_timed_samples)]


class FirmwareVersionList(_Model):
    firmware_versions: Annotated[list[FirmwareVersion], FailFast(), BeforeValidator(_list_or_empty)]


class NetworkList(_Model):
    networks: Annotated[list[Network], FailFast(), BeforeValidator(_list_or_empty)]


class ServerTime(_Model):
    time: datetime

    @model_validator(mode="before")
    @classmethod
    def _time(cls, data: Any) -> Any:
        if isinstance(data, dict) and "time" in data:
            data = {**data, "time": parse_time(data["time"])}
        return data
