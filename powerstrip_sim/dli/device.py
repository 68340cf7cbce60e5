"""The simulated controller's state: outlets with persistent/transient/physical state, and meters.

Time comes from an injectable clock and is applied lazily (on read), so a test
can step a fake clock and get exact, deterministic physical states and energy.
"""

from __future__ import annotations

import itertools
import math
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from powerstrip_sim.dli import models as mdl
from powerstrip_sim.mains import NORTH_AMERICA, Mains

#: What a float32 zero reads as on the wire (smallest denormal), per DLI's own page.
FLOAT32_ZERO = 1.4e-45

_serials = itertools.count(1)


def f32(value: float) -> float:
    """Round to float32, as the device's meters are."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


class LockedError(Exception):
    """A write touched a locked outlet."""


@dataclass
class SimOutlet:
    name: str
    state: bool
    transient_state: bool
    locked: bool = False
    critical: bool = False
    cycle_delay: float | None = None
    load_amps: float = 0.0
    bus: int | None = None
    physical: bool = False
    pending_at: float | None = None
    """When the physical state will follow the transient state (cycle delay)."""


@dataclass
class SimMeter:
    role: str
    key: str
    name: str
    quantity: str
    bus: int | None
    read: Callable[[], float]


@dataclass
class SimUser:
    password: str
    is_admin: bool


@dataclass
class SimDevice:
    """One controller. All mutation happens through methods so physical state and energy stay consistent."""

    model: mdl.ModelSpec
    clock: Callable[[], float] = time.monotonic
    cycle_delay: float = 1.0
    naming: mdl.MeterNaming = field(default_factory=mdl.MeterNaming)
    serial: str = ""
    hostname: str = ""
    drift: bool = False
    outlets: list[SimOutlet] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)
    threads: dict[str, dict[str, str]] = field(default_factory=dict)
    forced_locks: frozenset[int] | None = None
    """Outlets locked by the `locked_outlets` fault, on top of each outlet's own flag."""
    failed_relays: frozenset[int] = frozenset()
    """Outlets whose relay no longer closes (the `failed_relays` fault): physically off whatever their state."""
    mains: Mains = NORTH_AMERICA
    boots: int = 0

    def __post_init__(self) -> None:
        n = next(_serials)
        if not self.serial:
            self.serial = f"{self.model.relay_model}SIM{n:05d}"
        if not self.hostname:
            self.hostname = f"{self.model.key}-sim-{n}"
        if not self.outlets:
            self.outlets = [self._default_outlet(i) for i in range(self.model.outlets)]
        self.energy = list(mdl.INITIAL_ENERGY[: self.model.buses])
        self._thread_ids = itertools.count(1)
        self._last = self.clock()
        self._t0 = self._last
        self.meters = self._build_meters()

    def _default_outlet(self, i: int) -> SimOutlet:
        on = i in mdl.DEFAULT_ON
        per_bus = max(1, self.model.outlets // self.model.buses) if self.model.buses else 0
        return SimOutlet(
            name=f"Outlet {i + 1}",
            state=on,
            transient_state=on,
            physical=on,
            critical=i in mdl.DEFAULT_CRITICAL,
            load_amps=mdl.DEFAULT_LOADS[i % len(mdl.DEFAULT_LOADS)],
            bus=min(i // per_bus, self.model.buses - 1) if per_bus else None,
        )

    # -- time --------------------------------------------------------------------

    def advance(self) -> float:
        """Apply due physical-state changes in time order and integrate energy up to now."""
        now = self.clock()
        while True:
            due = [o.pending_at for o in self.outlets if o.pending_at is not None and o.pending_at <= now]
            if not due:
                break
            at = min(due)
            self._integrate(at)
            for o in self.outlets:
                if o.pending_at is not None and o.pending_at <= at:
                    o.physical = o.transient_state
                    o.pending_at = None
        self._integrate(now)
        return now

    def _integrate(self, until: float) -> None:
        dt = until - self._last
        if dt <= 0:
            return
        for bus in range(self.model.buses):
            self.energy[bus] += self.bus_voltage(bus) * self.bus_current(bus) * dt
        self._last = until

    def _wobble(self, period: float, amplitude: float) -> float:
        if not self.drift:
            return 0.0
        return amplitude * math.sin((self._last - self._t0) / period)

    # -- meters ------------------------------------------------------------------

    def bus_voltage(self, bus: int) -> float:
        offset = mdl.BUS_VOLTAGE_OFFSETS[bus % len(mdl.BUS_VOLTAGE_OFFSETS)]
        return self.mains.volts + offset + self._wobble(37.0, 0.8)

    def bus_current(self, bus: int) -> float:
        return sum(o.load_amps for i, o in enumerate(self.outlets) if o.bus == bus and self.powered(i))

    def powered(self, i: int) -> bool:
        """Whether outlet `i` gives power: switched through, and its relay not failed."""
        return self.outlets[i].physical and i not in self.failed_relays

    def _build_meters(self) -> dict[str, SimMeter]:
        meters: list[SimMeter] = []
        naming = self.naming

        def add(role: str, name: str, bus: int | None, read: Callable[[], float], index: dict[str, int]) -> None:
            key = naming.key(role, **index)
            if key is not None:
                meters.append(SimMeter(role, key, name, naming.quantity(role), bus, read))

        for b in range(self.model.buses):
            idx = {"bus": b}
            add("bus_voltage", f"Bus {b + 1} voltage", b, partial(self.bus_voltage, b), idx)
            add("bus_current", f"Bus {b + 1} current", b, partial(self.bus_current, b), idx)
            add("bus_energy", f"Bus {b + 1} total energy", b, partial(self.bus_energy, b), idx)
            add("bus_power", f"Bus {b + 1} power", b, partial(self.bus_power, b), idx)
        if self.model.internal_temperature:
            add("internal_temperature", "Internal temperature", None, self.internal_kelvin, {})
        if self.model.battery:
            add("battery_voltage", "Battery voltage", None, lambda: mdl.BATTERY_VOLTS, {})
        for s in range(self.model.sensors):
            idx = {"sensor": s}
            add("sensor_temperature", f"Sensor {s + 1} temperature", None, self.sensor_kelvin, idx)
            add("sensor_humidity", f"Sensor {s + 1} humidity", None, self.sensor_humidity, idx)
        return {m.key: m for m in meters}

    def bus_energy(self, bus: int) -> float:
        return self.energy[bus]

    def buses_view(self) -> list[dict[str, Any]]:
        """`meter/buses/`: DLI's object model lists the metered buses there ("Bus list"), and
        third-party clients test it for metering. GUESS: one object per bus with its display name."""
        return [{"name": f"Bus {b + 1}"} for b in range(self.model.buses)]

    def bus_power(self, bus: int) -> float:
        return self.bus_voltage(bus) * self.bus_current(bus)

    def internal_kelvin(self) -> float:
        return mdl.INTERNAL_KELVIN + self._wobble(91.0, 1.0)

    def sensor_kelvin(self) -> float:
        return mdl.SENSOR_KELVIN + self._wobble(53.0, 0.7)

    def sensor_humidity(self) -> float:
        return mdl.SENSOR_HUMIDITY_PERCENT + self._wobble(71.0, 3.0)

    def add_meter(self, key: str, name: str, quantity: str, value: float, bus: int | None = None) -> None:
        """Extra meter with a fixed value (tests use it for quantities the models lack)."""
        self.meters[key] = SimMeter("custom", key, name, quantity, bus, lambda: value)

    def meter_value(self, meter: SimMeter) -> float:
        """The value as the wire shows it: float32, with a zero current as the 1.4e-45 denormal."""
        raw = meter.read()
        if raw == 0.0 and meter.quantity in (self.naming.quantity("bus_current"), self.naming.quantity("bus_power")):
            return FLOAT32_ZERO
        return f32(raw)

    def meter_view(self) -> dict[str, Any]:
        self.advance()
        return {
            m.key: {
                "name": m.name,
                "value": self.meter_value(m),
                "quantity": m.quantity,
                "bus": m.bus,
                "internal": m.role in ("internal_temperature", "battery_voltage"),
                "custom": False,
                "expression": "",
                "in_calibration": False,
                "supports_calibration": m.role.startswith("bus_"),
            }
            for m in self.meters.values()
        }

    # -- outlets -----------------------------------------------------------------

    def is_locked(self, i: int) -> bool:
        return self.outlets[i].locked or (self.forced_locks is not None and i in self.forced_locks)

    def outlet_view(self, i: int) -> dict[str, Any]:
        o = self.outlets[i]
        return {
            "name": o.name,
            "state": o.state,
            "transient_state": o.transient_state,
            "physical_state": self.powered(i),
            "locked": self.is_locked(i),
            "critical": o.critical,
            "cycle_delay": o.cycle_delay,
        }

    def outlets_view(self) -> list[dict[str, Any]]:
        self.advance()
        return [self.outlet_view(i) for i in range(len(self.outlets))]

    def check_unlocked(self, indices: Iterable[int]) -> None:
        locked = [i for i in indices if self.is_locked(i)]
        if locked:
            raise LockedError(f"outlet(s) {', '.join(map(str, locked))} locked")

    def _switch(self, o: SimOutlet, on: bool) -> None:
        o.transient_state = on
        if not on:
            o.physical = False
            o.pending_at = None
        elif o.pending_at is None:
            o.physical = True

    def set_state(self, i: int, on: bool) -> None:
        """Persistent state; also switches the outlet now."""
        self.advance()
        self.check_unlocked([i])
        o = self.outlets[i]
        o.state = on
        self._switch(o, on)

    def set_transient_state(self, i: int, on: bool) -> None:
        self.advance()
        self.check_unlocked([i])
        self._switch(self.outlets[i], on)

    def cycle(self, i: int) -> None:
        """Off now, on again after the cycle delay; no effect when the outlet is off."""
        now = self.advance()
        self.check_unlocked([i])
        o = self.outlets[i]
        if not o.transient_state:
            return
        o.physical = False
        delay = o.cycle_delay if o.cycle_delay is not None else self.cycle_delay
        o.pending_at = now + delay

    def set_name(self, i: int, name: str) -> None:
        self.outlets[i].name = name

    def set_critical(self, i: int, critical: bool) -> None:
        self.outlets[i].critical = critical

    def set_cycle_delay(self, i: int, delay: float | None) -> None:
        self.outlets[i].cycle_delay = delay

    def reboot(self) -> None:
        """Transient state falls back to persistent; script threads stop."""
        self.advance()
        for o in self.outlets:
            o.transient_state = o.state
            o.physical = o.state
            o.pending_at = None
        self.threads.clear()
        self.boots += 1

    # -- scripts -----------------------------------------------------------------

    def start_thread(self, label: str) -> str:
        tid = str(next(self._thread_ids))
        self.threads[tid] = {"label": label}
        return tid

    def stop_thread(self, tid: str) -> bool:
        if tid == "all":
            self.threads.clear()
            return True
        return self.threads.pop(tid, None) is not None

    # -- identity ----------------------------------------------------------------

    def relay_view(self) -> dict[str, Any]:
        return {
            "name": f"{self.model.relay_model} simulator",
            "model": self.model.relay_model,
            "version": self.model.relay_firmware_version,
            "online": True,
            "cycle_delay": self.cycle_delay,
            "sequence_delay": 0,
            "outlets": self.outlets_view(),
        }

    def config_view(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "version": self.model.firmware_version,
            "hostname": self.hostname,
            "hardware_id": f"{self.model.relay_model}-sim",
            "allow_restapi": True,
            "allow_plaintext_logins": False,
        }
