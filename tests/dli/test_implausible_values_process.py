"""Values no device can have, through the real exporter process polling a DLI simulator: a
negative energy counter (-393,192,589,000 J was exported as is) and a temperature below absolute
zero (-773.15 °C). Each is refused on its own, counted by reason, and logged once per change; the
target and its other series stay up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from powerstrip_sim.dli import DliSimulator
from tests.dli.conftest import PASSWORD, StartSim
from tests.support.process import ExporterProcess, Samples, value

REFUSED = "powerstrip_exporter_target_values_refused_total"
ENERGY = "dli_bus_energy_joules_total"
TEMPERATURE = "dli_temperature_celsius"


@pytest.fixture
async def sim(start_sim: StartSim) -> DliSimulator:
    return await start_sim("epcr")


def config(sim: DliSimulator) -> str:
    target = {"source": "dli", "name": "unit", "url": sim.url, "username": "admin", "password": PASSWORD}
    return yaml.safe_dump(
        {"global": {"interval": "1s", "timeout": "1s", "jitter": 0, "backoff_max": "2s"}, "targets": [target]}
    )


def refused(samples: Samples) -> float:
    return value(samples, REFUSED, source="dli", target="unit", reason="implausible_value") or 0.0


async def test_impossible_values_are_refused_by_reason_and_the_rest_of_the_unit_is_exported(
    tmp_path: Path, sim: DliSimulator
) -> None:
    async with ExporterProcess(tmp_path, config(sim)) as exp:
        healthy = await exp.wait_for_sample(ENERGY, device="unit", bus="0")
        assert refused(healthy) == 0.0
        assert value(healthy, TEMPERATURE, device="unit", sensor="internal_temperature") is not None

        sim.device.energy[0] = -393192589000.0
        sim.device.add_meter("internal_temperature", "Internal temperature", "temperature", -500.0)  # -773.15 °C
        latest: Samples = {}

        async def refusing_for_a_while() -> bool:
            nonlocal latest
            latest = await exp.metrics()
            return refused(latest) >= 2 * 4  # both values, in at least four polls

        await exp.wait_for(refusing_for_a_while, timeout=30, what="impossible values refused")
        assert value(latest, ENERGY, device="unit", bus="0") is None
        assert value(latest, TEMPERATURE, device="unit", sensor="internal_temperature") is None
        assert value(latest, ENERGY, device="unit", bus="1") is not None  # the other bus is a real reading
        assert value(latest, "powerstrip_exporter_target_up", source="dli", target="unit") == 1.0
        assert value(latest, "dli_meter_info", device="unit", meter="internal_temperature") == 1.0
        assert all(v >= 0 for (n, _), v in latest.items() if n == ENERGY)

        sim.device.energy[0] = 1000.0
        sim.device.add_meter("internal_temperature", "Internal temperature", "temperature", 300.0)
        back = await exp.wait_for_sample(TEMPERATURE, 300.0 - 273.15, device="unit", sensor="internal_temperature")
        assert value(back, ENERGY, device="unit", bus="0") is not None
        logs = exp.logs()
    assert logs.count('msg="device values refused"') == 1  # once per change, not once per poll
    assert "reasons=implausible_value" in logs and "-3.93193e+11" in logs
    assert logs.count('msg="device values accepted again"') == 1
