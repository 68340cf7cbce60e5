"""Every metric the DLI source emits. Names and labels are a fixed API (the table in docs/sources/dli.md)."""

from __future__ import annotations

from exporter.metrics.spec import MetricSpec

DEVICE_INFO = MetricSpec(
    "dli_device_info",
    "Identity of a DLI controller; value is always 1.",
    "gauge",
    ("device", "serial", "firmware_version", "relay_firmware_version", "model", "hostname"),
)
OUTLET_INFO = MetricSpec("dli_outlet_info", "Outlet name; value is always 1.", "gauge", ("device", "outlet", "name"))
OUTLET_STATE = MetricSpec(
    "dli_outlet_state", "Persistent (configured) outlet state, 1 = on.", "gauge", ("device", "outlet")
)
OUTLET_TRANSIENT_STATE = MetricSpec(
    "dli_outlet_transient_state", "Transient (temporary) outlet state, 1 = on.", "gauge", ("device", "outlet")
)
OUTLET_PHYSICAL_STATE = MetricSpec(
    "dli_outlet_physical_state", "Actual relay state as the device reports it, 1 = on.", "gauge", ("device", "outlet")
)
OUTLET_LOCKED = MetricSpec(
    "dli_outlet_locked", "1 if the outlet is locked and cannot be switched remotely.", "gauge", ("device", "outlet")
)
OUTLET_CRITICAL = MetricSpec(
    "dli_outlet_critical", "1 if the outlet is marked critical.", "gauge", ("device", "outlet")
)
SCRIPT_THREADS = MetricSpec(
    "dli_script_threads", "Running script threads (only readable by an admin user).", "gauge", ("device",)
)
METERS_PERMITTED = MetricSpec(
    "dli_meters_permitted",
    "1 if the user may read the meter map, 0 if the unit answers 403 (outlets are still exported).",
    "gauge",
    ("device",),
)

BUS_VOLTAGE = MetricSpec("dli_bus_voltage_volts", "AC voltage of a bus.", "gauge", ("device", "bus"))
BUS_CURRENT = MetricSpec("dli_bus_current_amperes", "Current drawn on a bus.", "gauge", ("device", "bus"))
BUS_ENERGY = MetricSpec(
    "dli_bus_energy_joules_total", "Total energy used on a bus, as counted by the device.", "counter", ("device", "bus")
)
BUS_POWER = MetricSpec("dli_bus_power_watts", "Power on a bus, where the device meters it.", "gauge", ("device", "bus"))
TEMPERATURE = MetricSpec(
    "dli_temperature_celsius", "Temperature, converted from the device's kelvin.", "gauge", ("device", "sensor")
)
HUMIDITY = MetricSpec("dli_humidity_ratio", "Relative humidity as a 0-1 ratio.", "gauge", ("device", "sensor"))
VOLTAGE = MetricSpec(
    "dli_voltage_volts", "A voltage not tied to a bus (battery, CPU and relay rails).", "gauge", ("device", "meter")
)
METER_VALUE = MetricSpec(
    "dli_meter_value",
    "A meter of a quantity the exporter does not know, unconverted.",
    "gauge",
    ("device", "meter", "quantity"),
)
METER_INFO = MetricSpec(
    "dli_meter_info",
    "Every meter the device lists; value is always 1.",
    "gauge",
    ("device", "meter", "name", "quantity"),
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    DEVICE_INFO,
    OUTLET_INFO,
    OUTLET_STATE,
    OUTLET_TRANSIENT_STATE,
    OUTLET_PHYSICAL_STATE,
    OUTLET_LOCKED,
    OUTLET_CRITICAL,
    SCRIPT_THREADS,
    METERS_PERMITTED,
    BUS_VOLTAGE,
    BUS_CURRENT,
    BUS_ENERGY,
    BUS_POWER,
    TEMPERATURE,
    HUMIDITY,
    VOLTAGE,
    METER_VALUE,
    METER_INFO,
)
