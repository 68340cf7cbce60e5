"""Turns what one poll read into a `SampleSet`. Pure functions: no I/O, easy to test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from exporter.metrics.spec import MetricSpec, SampleSet, SampleSetBuilder
from exporter.sources.dli import metrics as m
from exporter.sources.dli.config import DEFAULT_QUANTITY_ALIASES, Quantity
from exporter.sources.dli.models import Identity, Meter, OutletStatus

KELVIN_OFFSET = 273.15
"""Kelvin is K - 273.15 by definition (DLI's own page says 273.16; the 0.01 K difference is below sensor accuracy)."""

PLAUSIBLE: dict[str, tuple[float | None, float | None]] = {
    m.BUS_ENERGY.name: (0.0, None),
    m.TEMPERATURE.name: (-KELVIN_OFFSET, None),
    m.HUMIDITY.name: (0.0, 1.0),
}
"""(lowest, highest) value each series can really have: an energy counter is never negative, no
temperature is below absolute zero, relative humidity is 0-100 %. Outside, a value is refused as
`implausible_value` (the meter keeps its `dli_meter_info`)."""

_BUS_SPECS: dict[Quantity, MetricSpec] = {
    "voltage": m.BUS_VOLTAGE,
    "current": m.BUS_CURRENT,
    "energy": m.BUS_ENERGY,
    "power": m.BUS_POWER,
}


@dataclass(frozen=True, slots=True)
class PollData:
    """Everything one poll read from a device."""

    outlets: Sequence[OutletStatus]
    meters: Sequence[Meter]
    identity: Identity | None
    script_threads: int | None
    meters_permitted: bool = True
    """False when the unit answered 403 on the meter map; `meters` is then empty."""


def sensor_label(meter: Meter) -> str:
    """The `sensor` label: the meter key without a trailing `.<quantity>` (`sensor.0.humidity` -> `sensor.0`).

    The API has no sensor index field, so temperature and humidity of one probe
    share a label only through their keys (whose names are a guess).
    """
    suffix = "." + meter.quantity
    if meter.key.endswith(suffix) and len(meter.key) > len(suffix):
        return meter.key[: -len(suffix)]
    return meter.key


def _meter_samples(
    b: SampleSetBuilder,
    device: str,
    meters: Sequence[Meter],
    aliases: Mapping[str, Quantity],
    humidity_unit: Literal["percent", "ratio"],
) -> None:
    """Each meter by its quantity. Only quantities the exporter does not know go to `dli_meter_value`
    (a known one there would mix units in one family); a known quantity that has no metric of its
    own (a current, energy or power without a bus) or repeats a series already taken is left out,
    and listed by `dli_meter_info` like every meter."""
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def add_once(spec: MetricSpec, value: float, *labels: str) -> None:
        key = (spec.name, labels)
        if key not in seen:  # two meters mapping to one series: the first wins
            seen.add(key)
            low, high = PLAUSIBLE.get(spec.name, (None, None))
            b.add_within(spec, value, *labels, minimum=low, maximum=high)

    for meter in meters:
        b.add(m.METER_INFO, 1, device, meter.key, meter.name, meter.quantity)
        if meter.value is None:
            continue
        kind = aliases.get(meter.quantity)
        value = meter.value
        if kind is None:
            add_once(m.METER_VALUE, value, device, meter.key, meter.quantity)
        elif kind in _BUS_SPECS and meter.bus is not None:
            add_once(_BUS_SPECS[kind], value, device, meter.bus)
        elif kind == "voltage":
            add_once(m.VOLTAGE, value, device, meter.key)
        elif kind == "temperature":
            add_once(m.TEMPERATURE, value - KELVIN_OFFSET, device, sensor_label(meter))
        elif kind == "humidity":
            ratio = value / 100.0 if humidity_unit == "percent" else value
            add_once(m.HUMIDITY, ratio, device, sensor_label(meter))


def build_samples(
    device: str,
    data: PollData,
    *,
    aliases: Mapping[str, Quantity] = DEFAULT_QUANTITY_ALIASES,
    humidity_unit: Literal["percent", "ratio"] = "percent",
) -> SampleSet:
    b = SampleSetBuilder()
    ident = data.identity
    if ident is not None:
        b.add(
            m.DEVICE_INFO,
            1,
            device,
            ident.serial,
            ident.firmware_version,
            ident.relay_firmware_version,
            ident.model,
            ident.hostname,
        )
    for o in data.outlets:
        b.add(m.OUTLET_INFO, 1, device, o.index, o.name)
        b.add(m.OUTLET_STATE, o.state, device, o.index)
        b.add(m.OUTLET_TRANSIENT_STATE, o.transient_state, device, o.index)
        b.add(m.OUTLET_PHYSICAL_STATE, o.physical_state, device, o.index)
        b.add(m.OUTLET_LOCKED, o.locked, device, o.index)
        b.add(m.OUTLET_CRITICAL, o.critical, device, o.index)
    b.add(m.SCRIPT_THREADS, data.script_threads, device)
    b.add(m.METERS_PERMITTED, 1 if data.meters_permitted else 0, device)
    _meter_samples(b, device, data.meters, aliases, humidity_unit)
    return b.build()
