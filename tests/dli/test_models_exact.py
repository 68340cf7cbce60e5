"""All three hardware models through the real client and simulator, with exact expected samples."""

from __future__ import annotations

import itertools

import pytest

from powerstrip_sim.dli import f32
from tests.dli.conftest import FakeClock, MakeTarget, StartSim, by_family

ON = {"0", "1", "3"}  # the simulator's default: outlets 0, 1 and 3 on
OUTLETS = [str(i) for i in range(8)]


def outlet_families(device: str) -> dict[str, dict[tuple[str, ...], float]]:
    return {
        "dli_outlet_info": {(device, o, f"Outlet {int(o) + 1}"): 1.0 for o in OUTLETS},
        "dli_outlet_state": {(device, o): float(o in ON) for o in OUTLETS},
        "dli_outlet_transient_state": {(device, o): float(o in ON) for o in OUTLETS},
        "dli_outlet_physical_state": {(device, o): float(o in ON) for o in OUTLETS},
        "dli_outlet_locked": {(device, o): 0.0 for o in OUTLETS},
        "dli_outlet_critical": {(device, o): float(o == "0") for o in OUTLETS},
        "dli_script_threads": {(device,): 0.0},
        "dli_meters_permitted": {(device,): 1.0},
    }


async def test_pro_has_outlets_and_no_meters(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro", serial="LPC9TEST1", hostname="pro-lab")
    got = by_family(await make_target(sim, name="pro1").poll())
    assert got == {
        "dli_device_info": {("pro1", "LPC9TEST1", "1.13.16.0", "1.4.1", "LPC9", "pro-lab"): 1.0},
        **outlet_families("pro1"),
    }
    assert sim.stats.requests["GET /restapi/meter/values/"] == 1  # asked, got 404, not a failure


async def test_epcr_meters_exact(start_sim: StartSim, make_target: MakeTarget, clock: FakeClock) -> None:
    sim = await start_sim("epcr", clock=clock, serial="EPCR6TEST2", hostname="epcr-lab")
    target = make_target(sim, name="epcr1")
    got = by_family(await target.poll())
    meters = {
        "bus.0.voltage": ("Bus 1 voltage", "voltage"),
        "bus.0.current": ("Bus 1 current", "current"),
        "bus.0.total_energy": ("Bus 1 total energy", "energy"),
        "bus.1.voltage": ("Bus 2 voltage", "voltage"),
        "bus.1.current": ("Bus 2 current", "current"),
        "bus.1.total_energy": ("Bus 2 total energy", "energy"),
        "internal_temperature": ("Internal temperature", "temperature"),
        "battery_voltage": ("Battery voltage", "voltage"),
    }
    assert got == {
        "dli_device_info": {("epcr1", "EPCR6TEST2", "1.13.16.0", "2.1.7", "EPCR6", "epcr-lab"): 1.0},
        **outlet_families("epcr1"),
        "dli_meter_info": {("epcr1", key, name, q): 1.0 for key, (name, q) in meters.items()},
        "dli_bus_voltage_volts": {("epcr1", "0"): 120.0, ("epcr1", "1"): 120.5},
        # bus 0: outlets 0, 1, 3 on = 0.5 + 1.25 + 2.0 A; bus 1 idle reads 1.4e-45 on the wire, exported as 0
        "dli_bus_current_amperes": {("epcr1", "0"): 3.75, ("epcr1", "1"): 0.0},
        "dli_bus_energy_joules_total": {("epcr1", "0"): 3_600_000.0, ("epcr1", "1"): 7_200_000.0},
        "dli_temperature_celsius": {("epcr1", "internal_temperature"): 308.25 - 273.15},
        "dli_voltage_volts": {("epcr1", "battery_voltage"): 3.25},
    }


async def test_epcr_wire_shows_float32_zero(start_sim: StartSim, raw_session) -> None:  # type: ignore[no-untyped-def]
    sim = await start_sim("epcr")
    async with raw_session().get(f"{sim.url}/restapi/meter/values/bus.1.current/value/") as resp:
        assert resp.status == 200
        assert await resp.text() == "1.4e-45"


async def test_energy_counter_is_monotonic_and_exact(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    sim = await start_sim("epcr", clock=clock)
    target = make_target(sim)
    seen: list[tuple[float, float]] = []
    for step in range(4):
        if step == 2:
            await target.client.set_state(4, True)  # 0.25 A on bus 1 from now on
        got = by_family(await target.poll())["dli_bus_energy_joules_total"]
        seen.append((got[("dli-epcr", "0")], got[("dli-epcr", "1")]))
        clock.advance(10.0)
    e0 = [3_600_000.0 + 120.0 * 3.75 * 10.0 * i for i in range(4)]
    e1 = [7_200_000.0, 7_200_000.0, 7_200_000.0, 7_200_000.0 + 120.5 * 0.25 * 10.0]
    assert seen == [(f32(a), f32(b)) for a, b in zip(e0, e1, strict=True)]
    for (a0, b0), (a1, b1) in itertools.pairwise(seen):
        assert a1 > a0 and b1 >= b0


async def test_din4_sensor_temperature_and_humidity(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("din4", serial="DIN4TEST3", hostname="din-lab")
    got = by_family(await make_target(sim, name="din1").poll())
    assert got == {
        "dli_device_info": {("din1", "DIN4TEST3", "1.13.16.0", "1.2.3", "DIN4", "din-lab"): 1.0},
        **outlet_families("din1"),
        "dli_meter_info": {
            ("din1", "sensor.0.temperature", "Sensor 1 temperature", "temperature"): 1.0,
            ("din1", "sensor.0.humidity", "Sensor 1 humidity", "humidity"): 1.0,
        },
        "dli_temperature_celsius": {("din1", "sensor.0"): 295.5 - 273.15},
        "dli_humidity_ratio": {("din1", "sensor.0"): 41.5 / 100},
    }


async def test_humidity_already_a_ratio(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("din4")
    sim.device.add_meter("sensor.1.humidity", "Probe 2 humidity", "humidity", 0.5)
    samples = await make_target(sim, humidity_unit="ratio").poll()
    assert by_family(samples)["dli_humidity_ratio"] == {("dli-din4", "sensor.1"): 0.5}
    # The built-in probe reports percent: read as a ratio, 41.5 is no humidity at all, and is refused.
    assert [(r.series, r.value, r.reason) for r in samples.refused] == [
        ('dli_humidity_ratio{device="dli-din4",sensor="sensor.0"}', f32(41.5), "implausible_value")
    ]


async def test_custom_meter_keys_and_quantity_aliases(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    """Key names and quantity strings are guesses: both are configurable, and the exporter maps by quantity."""
    sim = await start_sim(
        "epcr",
        clock=clock,
        meter_keys={"bus_voltage": "v{bus}", "bus_power": "p{bus}", "battery_voltage": None},
        meter_quantities={"energy": "kwh_counter"},
    )
    sim.device.add_meter("frequency", "Line frequency", "frequency", 60.0)
    sim.device.add_meter("aux_current", "Aux current", "current", 0.5)
    got = by_family(await make_target(sim, quantity_aliases={"kwh_counter": "energy"}).poll())
    assert got["dli_bus_voltage_volts"] == {("dli-epcr", "0"): 120.0, ("dli-epcr", "1"): 120.5}
    assert got["dli_bus_power_watts"] == {("dli-epcr", "0"): 450.0, ("dli-epcr", "1"): 0.0}
    assert got["dli_bus_energy_joules_total"] == {("dli-epcr", "0"): 3_600_000.0, ("dli-epcr", "1"): 7_200_000.0}
    # Only the unknown quantity is raw: a current without a bus has no metric of its own and is left
    # out rather than mixed into dli_meter_value (dli_meter_info still lists it).
    assert got["dli_meter_value"] == {("dli-epcr", "frequency", "frequency"): 60.0}
    assert "dli_voltage_volts" not in got  # battery meter removed
    keys = {labels[1] for labels in got["dli_meter_info"]}
    assert keys == {
        "v0", "v1", "p0", "p1", "bus.0.current", "bus.1.current", "bus.0.total_energy", "bus.1.total_energy",
        "internal_temperature", "frequency", "aux_current",
    }  # fmt: skip


async def test_unknown_energy_quantity_without_alias_is_raw(
    start_sim: StartSim, make_target: MakeTarget, clock: FakeClock
) -> None:
    sim = await start_sim("epcr", clock=clock, meter_quantities={"energy": "kwh_counter"})
    got = by_family(await make_target(sim).poll())
    assert "dli_bus_energy_joules_total" not in got
    assert got["dli_meter_value"] == {
        ("dli-epcr", "bus.0.total_energy", "kwh_counter"): 3_600_000.0,
        ("dli-epcr", "bus.1.total_energy", "kwh_counter"): 7_200_000.0,
    }


async def test_meter_lists_its_buses_as_dli_object_model_does(start_sim: StartSim, raw_session) -> None:  # type: ignore[no-untyped-def]
    """`meter/` holds `values` and `buses` ("Bus list"); third-party clients take a non-empty
    `buses` as "this unit meters power"."""
    sim = await start_sim("epcr")
    async with raw_session().get(f"{sim.url}/restapi/meter/") as resp:
        assert resp.status == 200
        meter = await resp.json()
    assert set(meter) == {"values", "buses"}
    assert meter["buses"] == [{"name": "Bus 1"}, {"name": "Bus 2"}]
    async with raw_session().get(f"{sim.url}/restapi/meter/buses/1/name/") as resp:
        assert (resp.status, await resp.json()) == (200, "Bus 2")
    din = await start_sim("din4")
    async with raw_session().get(f"{din.url}/restapi/meter/") as resp:
        assert resp.status == 200
        assert (await resp.json())["buses"] == []  # meters (sensors), but no metered bus


@pytest.mark.parametrize("buses", ["listed", "empty"])
async def test_the_exporter_does_not_depend_on_the_bus_list(
    start_sim: StartSim, make_target: MakeTarget, monkeypatch: pytest.MonkeyPatch, buses: str
) -> None:
    """Meters are enumerated from `meter/values/`; whatever `meter/buses` holds changes nothing."""
    sim = await start_sim("epcr")
    if buses == "empty":
        monkeypatch.setattr(sim.device, "buses_view", list)
    got = by_family(await make_target(sim, name="epcr1").poll())
    assert set(got["dli_bus_voltage_volts"]) == {("epcr1", "0"), ("epcr1", "1")}
    assert set(got["dli_bus_energy_joules_total"]) == {("epcr1", "0"), ("epcr1", "1")}
    assert sim.stats.requests["GET /restapi/meter/values/"] == 1
    assert "GET /restapi/meter/" not in sim.stats.requests
