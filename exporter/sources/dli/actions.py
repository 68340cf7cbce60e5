"""DLI actions: cycle an outlet, reboot the controller. Validated against the inventory of the last poll."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.sources.action_api import ActionEnv, ActionError, ActionParam, ActionSpec, Outcome, Resolved, not_found
from exporter.sources.dli.inventory import DeviceInventory
from exporter.sources.dli.source import DliTarget

SOURCE = "dli"
_DEVICE = ActionParam("device", "The device's configured name (its `device` label).", "string")
_OUTLET = ActionParam("outlet", "Outlet index, 0-based as in the DLI API.", "integer", minimum=0, maximum=63)


def _inventory(env: ActionEnv, device: str) -> tuple[DliTarget, DeviceInventory]:
    """The device's target and the outlets it had at its last poll."""
    target = env.target(SOURCE, device)
    if not isinstance(target, DliTarget):
        raise not_found("no such device is configured")
    if target.inventory is None or not env.has_data(SOURCE, device):
        raise not_found(f"device {device!r} has no data in the latest snapshot")
    return target, target.inventory


def _resolve_cycle(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device, outlet = str(params["device"]), int(params["outlet"])
    target, inventory = _inventory(env, device)
    if outlet not in inventory.outlets:
        raise not_found(f"device {device!r} has no outlet {outlet}")
    if not inventory.outlets[outlet].on:
        raise ActionError(409, "invalid", f"outlet {outlet} of {device} is off: cycling it would change nothing")
    client = target.client

    async def perform() -> Outcome:
        result = await client.cycle(outlet)
        return Outcome(result.status, f"outlet {outlet} of {device} is cycling")

    flags = inventory.outlets[outlet]
    critical = f"outlet {outlet} of {device} is marked critical" if flags.critical else None
    locked = f"outlet {outlet} of {device} is marked locked" if flags.locked else None
    # Automation never switches an outlet the device marks critical or locked; a person may switch a
    # critical one after confirming it, as the device's own UI asks them to.
    return Resolved(f"cycle outlet {outlet} of {device}", perform, critical or locked, critical)


def _known(env: ActionEnv, device: str) -> bool:
    return isinstance(env.target(SOURCE, device), DliTarget)


def _resolve_reboot(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device = str(params["device"])
    target, _ = _inventory(env, device)
    client = target.client

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
        summary="Cycle a DLI outlet: off, then on again after the outlet's cycle delay (refused if it is off).",
        resolve=_resolve_cycle,
        known=_known,
    ),
    ActionSpec(
        source=SOURCE,
        action="reboot",
        path="/dli/{device}/reboot",
        params=(_DEVICE,),
        target_param="device",
        summary="Reboot a DLI controller (outlets return to their persistent state).",
        resolve=_resolve_reboot,
        known=_known,
    ),
)
