"""CloudTrax actions: reboot a power strip, reset one of its ports.

Both are validated against the networks' inventories from their last polls: the
strip must be in some network's, and the port in that strip's port list.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.sources.action_api import ActionEnv, ActionParam, ActionSpec, Outcome, Resolved, not_found
from exporter.sources.cloudtrax.source import NetworkTarget

SOURCE = "cloudtrax"
_STRIP = ActionParam("powerstrip_id", "CloudTrax power-strip id (the powerstrip_id label).", "integer", 1, 2**53)
_PORT = ActionParam("port", "CloudTrax port_id, 1-based (the port label).", "integer", 1, 64)


def _locate(env: ActionEnv, powerstrip_id: int) -> tuple[NetworkTarget, frozenset[int]]:
    """The network the strip was last seen in, and the strip's ports, from the networks' inventories."""
    for target in env.targets(SOURCE):
        if not isinstance(target, NetworkTarget) or target.inventory is None:
            continue
        ports = target.inventory.ports.get(powerstrip_id)
        if ports is not None and env.has_data(SOURCE, target.name):
            return target, ports
    raise not_found("no such power strip is in the latest snapshot")


def _known(env: ActionEnv, powerstrip_id: str) -> bool:
    """Whether any network's last inventory holds the strip (`powerstrip_id` as the path parameter parsed it)."""
    try:
        strip = int(powerstrip_id)
    except ValueError:
        return False
    return any(
        isinstance(target, NetworkTarget) and target.inventory is not None and strip in target.inventory.ports
        for target in env.targets(SOURCE)
    )


def _resolve_reboot(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    strip = int(params["powerstrip_id"])
    target, _ = _locate(env, strip)
    network_id, client = target.name, target.client

    async def perform() -> Outcome:
        result = await client.reboot_powerstrip(strip)
        return Outcome(result.status, f"power strip {strip} (network {network_id}) is rebooting")

    return Resolved(f"reboot power strip {strip} in network {network_id}", perform)


def _resolve_port_reset(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    strip, port = int(params["powerstrip_id"]), int(params["port"])
    target, ports = _locate(env, strip)
    if port not in ports:
        raise not_found(f"power strip {strip} has no port {port}")
    network_id, client = target.name, target.client

    async def perform() -> Outcome:
        result = await client.reset_port(strip, port)
        return Outcome(result.status, f"port {port} of power strip {strip} is resetting")

    return Resolved(f"reset port {port} of power strip {strip} in network {network_id}", perform)


ACTIONS = (
    ActionSpec(
        source=SOURCE,
        action="reboot",
        path="/cloudtrax/powerstrips/{powerstrip_id}/reboot",
        params=(_STRIP,),
        target_param="powerstrip_id",
        summary="Reboot a CloudTrax power strip (GET /powerstrip/{id}/reboot upstream).",
        resolve=_resolve_reboot,
        known=_known,
    ),
    ActionSpec(
        source=SOURCE,
        action="port_reset",
        path="/cloudtrax/powerstrips/{powerstrip_id}/ports/{port}/reset",
        params=(_STRIP, _PORT),
        target_param="powerstrip_id",
        summary="Reset one port of a CloudTrax power strip (GET /powerstrip/{id}/port/{n}/reset upstream).",
        resolve=_resolve_port_reset,
        known=_known,
    ),
)
