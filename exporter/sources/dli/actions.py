"""DLI actions: cycle an outlet, reboot the controller. Validated against the latest snapshot."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.actions.api import ActionEnv, ActionParam, ActionSpec, Outcome, Resolved, not_found
from exporter.sources.dli import metrics
from exporter.sources.dli.client import DliClient
from exporter.sources.dli.source import DliTarget

SOURCE = "dli"
_DEVICE = ActionParam("device", "The device's configured name (its `device` label).", "string")
_OUTLET = ActionParam("outlet", "Outlet index, 0-based as in the DLI API.", "integer", minimum=0, maximum=63)


def _device_outlets(env: ActionEnv, device: str) -> set[int]:
    state = env.states().get((SOURCE, device))
    if state is None or env.target(SOURCE, device) is None:
        raise not_found(f"device {device!r} is not configured")
    if not state.samples.families:
        raise not_found(f"device {device!r} has no data in the latest snapshot")
    return {int(labels[1]) for labels, _ in state.samples.get(metrics.OUTLET_INFO.name)}


def _client(env: ActionEnv, device: str) -> DliClient:
    target = env.target(SOURCE, device)
    if not isinstance(target, DliTarget):
        raise not_found(f"device {device!r} is not configured")
    return target.client


def _resolve_cycle(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device, outlet = str(params["device"]), int(params["outlet"])
    if outlet not in _device_outlets(env, device):
        raise not_found(f"device {device!r} has no outlet {outlet}")
    client = _client(env, device)

    async def perform() -> Outcome:
        result = await client.cycle(outlet)
        return Outcome(result.status, f"outlet {outlet} of {device} is cycling")

    return Resolved(f"cycle outlet {outlet} of {device}", perform, _protection(env, device, outlet))


def _protection(env: ActionEnv, device: str, outlet: int) -> str | None:
    """Outlets the device marks critical or locked are never switched by automation."""
    state = env.states()[(SOURCE, device)]
    for spec, word in ((metrics.OUTLET_CRITICAL, "critical"), (metrics.OUTLET_LOCKED, "locked")):
        if any(int(labels[1]) == outlet and value for labels, value in state.samples.get(spec.name)):
            return f"outlet {outlet} of {device} is marked {word}"
    return None


def _resolve_reboot(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device = str(params["device"])
    _device_outlets(env, device)
    client = _client(env, device)

    async def perform() -> Outcome:
        result = await client.reboot()
        return Outcome(result.status, f"{device} is rebooting")

    return Resolved(f"reboot {device}", perform)


ACTIONS = (
    ActionSpec(
        source=SOURCE,
        action="outlet_cycle",
        path="/dli/{device}/outlets/{outlet}/cycle",
        params=(_DEVICE, _OUTLET),
        target_param="device",
        summary="Cycle a DLI outlet: off, then on again after the outlet's cycle delay (no-op if it is off).",
        resolve=_resolve_cycle,
    ),
    ActionSpec(
        source=SOURCE,
        action="reboot",
        path="/dli/{device}/reboot",
        params=(_DEVICE,),
        target_param="device",
        summary="Reboot a DLI controller (outlets return to their persistent state).",
        resolve=_resolve_reboot,
    ),
)
