"""Outlets a DLI unit marks critical or locked are reported as protected, from the inventory of the last poll."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from exporter.sources.action_api import ActionError
from exporter.sources.api import Target
from exporter.sources.dli.actions import ACTIONS
from exporter.sources.dli.source import DliTarget
from tests.dli.conftest import MakeTarget, StartSim

CYCLE = next(spec for spec in ACTIONS if spec.action == "outlet_cycle")


class Env:
    """One DLI target that has just polled successfully."""

    def __init__(self, target: DliTarget) -> None:
        self._target = target

    def target(self, source: str, name: str) -> Target | None:
        return self._target if (source, name) == ("dli", self._target.name) else None

    def targets(self, source: str) -> Sequence[Target]:
        return [self._target] if source == "dli" else []

    def has_data(self, source: str, name: str) -> bool:
        return self.target(source, name) is not None


async def test_critical_and_locked_outlets_are_protected(start_sim: StartSim, make_target: MakeTarget) -> None:
    sim = await start_sim("pro")
    for outlet in range(8):
        sim.device.set_state(outlet, True)
    sim.set_faults(locked_outlets=[5])
    target = make_target(sim, name="pdu")
    await target.poll()
    env = Env(target)
    protected = {outlet: CYCLE.resolve(env, {"device": "pdu", "outlet": outlet}).protected for outlet in range(8)}
    assert protected[0] == "outlet 0 of pdu is marked critical"  # the Pro simulator's default critical outlet
    assert protected[5] == "outlet 5 of pdu is marked locked"
    assert {o for o, why in protected.items() if why} == {0, 5}
    assert sim.stats.requests.get("POST /restapi/relay/outlets/5/cycle/") is None  # resolving calls nothing
    critical = {outlet: CYCLE.resolve(env, {"device": "pdu", "outlet": outlet}).critical for outlet in range(8)}
    assert critical == {0: "outlet 0 of pdu is marked critical"} | dict.fromkeys(range(1, 8)), "a person confirms"
    assert CYCLE.known(env, "pdu") and not CYCLE.known(env, "datacent")


async def test_cycling_an_outlet_that_is_off_is_refused_before_anything_is_called(
    start_sim: StartSim, make_target: MakeTarget
) -> None:
    sim = await start_sim("pro")
    sim.device.set_state(2, False)
    target = make_target(sim, name="pdu")
    await target.poll()
    with pytest.raises(ActionError) as info:
        CYCLE.resolve(Env(target), {"device": "pdu", "outlet": 2})
    assert (info.value.status, info.value.reason) == (409, "invalid")
    assert info.value.detail == "outlet 2 of pdu is off: cycling it would change nothing"
    assert CYCLE.resolve(Env(target), {"device": "pdu", "outlet": 1}).protected is None  # on: resolves
    assert sim.stats.requests.get("POST /restapi/relay/outlets/2/cycle/") is None
