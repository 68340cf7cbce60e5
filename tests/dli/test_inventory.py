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


async def test_components_show_each_outlet_and_flag_one_switched_on_without_power(
    start_sim: StartSim, make_target: MakeTarget
) -> None:
    """The landing page's rows: every outlet on or off by its physical state; switched on but
    physically off (PowerStripDLIOutletPhysicallyOff's condition) needs attention."""
    sim = await start_sim("pro")
    sim.device.outlets[1].transient_state, sim.device.outlets[1].physical = True, False
    target = make_target(sim)
    assert list(target.components()) == [], "nothing before the first poll"
    await target.poll()
    components = list(target.components())
    outlets = sim.device.outlets
    assert [(c.kind, c.id, c.name) for c in components] == [("outlet", str(i), o.name) for i, o in enumerate(outlets)]
    assert [c.state for c in components] == ["on" if o.physical else "off" for o in outlets]
    flagged = [c.id for c in components if c.attention]
    assert flagged == [str(i) for i, o in enumerate(outlets) if o.transient_state and not o.physical]
    assert "1" in flagged
