"""Readings no strip can have, through the real exporter process polling the CloudTrax simulator: a
strip reporting a negative voltage (and so negative port currents) has those readings refused by
reason, while its other series and the rest of the network stay exported."""

from __future__ import annotations

from pathlib import Path

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import exporter_config
from tests.support.process import ExporterProcess, Samples, find, value

REFUSED = "powerstrip_exporter_target_values_refused_total"
VOLTAGE = "cloudtrax_powerstrip_voltage_volts"
CURRENT = "cloudtrax_powerstrip_port_current_amperes"


async def test_a_negative_voltage_is_refused_and_the_other_strip_is_untouched(
    tmp_path: Path, one_network: CloudTraxSimulator
) -> None:
    bad, good = sorted(one_network.state.strips.values(), key=lambda s: s.powerstrip_id)
    network = str(bad.network_id)
    async with ExporterProcess(tmp_path, exporter_config(one_network)) as exp:
        await exp.wait_for_sample(VOLTAGE, powerstrip_id=str(bad.powerstrip_id))
        bad.voltage = -120.0
        latest: Samples = {}

        async def refusing() -> bool:
            nonlocal latest
            latest = await exp.metrics()
            count = value(latest, REFUSED, source="cloudtrax", target=network, reason="implausible_value") or 0
            return count >= 2 * 3  # the voltage and port 1's current, in at least three polls

        await exp.wait_for(refusing, timeout=30, what="the negative readings refused")
        assert value(latest, VOLTAGE, powerstrip_id=str(bad.powerstrip_id)) is None
        assert value(latest, CURRENT, powerstrip_id=str(bad.powerstrip_id), port="1") is None
        assert value(latest, VOLTAGE, powerstrip_id=str(good.powerstrip_id)) is not None
        assert value(latest, CURRENT, powerstrip_id=str(good.powerstrip_id), port="1") is not None
        assert value(latest, "cloudtrax_powerstrip_port_power_watts", powerstrip_id=str(bad.powerstrip_id), port="1")
        assert value(latest, "powerstrip_exporter_target_up", source="cloudtrax", target=network) == 1.0
        assert all(v >= 0 for _, v in find(latest, VOLTAGE) + find(latest, CURRENT))
        logs = exp.logs()
    assert logs.count('msg="device values refused"') == 1
