"""Hardware models the simulator can be, and the (guessed) meter naming it uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Meter roles the simulator knows, with the quantity each one measures.
ROLE_QUANTITY: dict[str, str] = {
    "bus_voltage": "voltage",
    "bus_current": "current",
    "bus_energy": "energy",
    "bus_power": "power",
    "internal_temperature": "temperature",
    "battery_voltage": "voltage",
    "sensor_temperature": "temperature",
    "sensor_humidity": "humidity",
}

#: Default meter keys. DLI's real key names were never captured (the URLs in
#: rest.html were stripped), so these follow a third-party client (`bus.<n>.voltage`);
#: every one can be overridden. `bus_power` is off: no DLI document shows a power meter.
DEFAULT_KEYS: dict[str, str | None] = {
    "bus_voltage": "bus.{bus}.voltage",
    "bus_current": "bus.{bus}.current",
    "bus_energy": "bus.{bus}.total_energy",
    "bus_power": None,
    "internal_temperature": "internal_temperature",
    "battery_voltage": "battery_voltage",
    "sensor_temperature": "sensor.{sensor}.temperature",
    "sensor_humidity": "sensor.{sensor}.humidity",
}


@dataclass(frozen=True, slots=True)
class MeterNaming:
    """Meter keys (templates with `{bus}`/`{sensor}`) and the `quantity` strings reported.

    Only `voltage` is a quantity seen in DLI's docs; the others are guesses too.
    A key of None leaves that meter out.
    """

    keys: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    quantities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls, keys: Mapping[str, str | None] | None = None, quantities: Mapping[str, str] | None = None
    ) -> MeterNaming:
        """Defaults overlaid with overrides; unknown roles or quantities are rejected early."""
        for role in keys or {}:
            if role not in ROLE_QUANTITY:
                raise ValueError(f"unknown meter role {role!r} (known: {', '.join(ROLE_QUANTITY)})")
        known_q = set(ROLE_QUANTITY.values())
        for q in quantities or {}:
            if q not in known_q:
                raise ValueError(f"unknown quantity {q!r} (known: {', '.join(sorted(known_q))})")
        return cls(keys={**DEFAULT_KEYS, **(keys or {})}, quantities=dict(quantities or {}))

    def key(self, role: str, **index: int) -> str | None:
        template = self.keys.get(role)
        return None if template is None else template.format(**index)

    def quantity(self, role: str) -> str:
        canonical = ROLE_QUANTITY[role]
        return self.quantities.get(canonical, canonical)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a hardware model has: outlets, metered buses, temperature and sensors."""

    key: str
    relay_model: str
    description: str
    firmware_version: str
    relay_firmware_version: str
    outlets: int = 8
    buses: int = 0
    internal_temperature: bool = False
    battery: bool = False
    sensors: int = 0

    @property
    def has_meters(self) -> bool:
        return bool(self.buses or self.internal_temperature or self.battery or self.sensors)


MODELS: dict[str, ModelSpec] = {
    "pro": ModelSpec(
        key="pro",
        relay_model="LPC9",
        description="Web Power Switch Pro: 8 outlets, no meters",
        firmware_version="1.13.16.0",
        relay_firmware_version="1.4.1",
    ),
    "epcr": ModelSpec(
        key="epcr",
        relay_model="EPCR6",
        description="EPCR6: 8 outlets on 2 metered buses, internal temperature, battery voltage",
        firmware_version="1.13.16.0",
        relay_firmware_version="2.1.7",
        buses=2,
        internal_temperature=True,
        battery=True,
    ),
    "din4": ModelSpec(
        key="din4",
        relay_model="DIN4",
        description="DIN Relay IV: 8 relays, one temperature/humidity sensor",
        firmware_version="1.13.16.0",
        relay_firmware_version="1.2.3",
        sensors=1,
    ),
}

#: Initial outlet states and loads, the same for every model so tests can rely on them.
#: Outlets 0-3 are bus 0 and 4-7 bus 1 on a two-bus unit; bus 1 starts idle, so its
#: current reads as the float32 denormal 1.4e-45 like a real EPCR.
DEFAULT_ON = frozenset({0, 1, 3})
DEFAULT_LOADS = (0.5, 1.25, 0.75, 2.0, 0.25, 1.5, 1.0, 0.125)
DEFAULT_CRITICAL = frozenset({0})
BUS_VOLTAGE_OFFSETS = (0.0, 0.5)
"""Volts each bus reads above the unit's nominal supply (`SimDevice.mains`)."""
INITIAL_ENERGY = (3_600_000.0, 7_200_000.0)
INTERNAL_KELVIN = 308.25
BATTERY_VOLTS = 3.25
SENSOR_KELVIN = 295.5
SENSOR_HUMIDITY_PERCENT = 41.5
