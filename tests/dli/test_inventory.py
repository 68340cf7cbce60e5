"""A DLI target keeps the outlets of its last poll, with their critical, locked and on flags, for actions."""

from __future__ import annotations

import pytest

from exporter.sources.api import PollError
from exporter.sources.dli import metrics as m
from exporter.sources.dli.inventory import OutletFlags
from tests.dli.conftest import MakeTarget, StartSim, by_family


async def test_inventory_matches_the_published_outlets_and_flags(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("din4")
    sim.device.outlets[6].locked = True
    sim.device.outlets[2].critical = True
    target = make_target(sim)
    assert target.inventory is None, "no inventory before the first poll"
    families = by_family(await target.poll())
    assert target.inventory is not None
    outlets = target.inventory.outlets
    assert {int(labels[m.OUTLET_INFO.labels.index("outlet")]) for labels in families[m.OUTLET_INFO.name]} == set(
        outlets
    )
    assert outlets[6] == OutletFlags(critical=outlets[6].critical, locked=True, on=False)
    assert outlets[2].critical is True
    for spec, flag in ((m.OUTLET_LOCKED, "locked"), (m.OUTLET_CRITICAL, "critical"), (m.OUTLET_TRANSIENT_STATE, "on")):
        at = spec.labels.index("outlet")
        for labels, value in families[spec.name].items():
            assert getattr(outlets[int(labels[at])], flag) is bool(value)


async def test_a_failed_poll_keeps_the_last_inventory(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    target = make_target(sim)
    await target.poll()
    before = target.inventory
    await sim.stop()
    with pytest.raises(PollError):  # the simulator is gone: unreachable, as a device can be
        await target.poll()
    assert target.inventory is before
