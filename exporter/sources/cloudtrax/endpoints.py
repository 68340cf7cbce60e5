"""Endpoint templates: the `endpoint` label of the API metrics and the simulator's counters.

The client and the simulator both name calls by these strings, so a request
counted by the simulator and a request counted by the exporter match.
"""

from __future__ import annotations

NETWORK_LIST = "GET /network/list"
TIME = "GET /time"

LIST_POWERSTRIPS = "GET /powerstrip/network/{network_id}/list"
CREATE_POWERSTRIP = "POST /powerstrip/network/{network_id}"
GET_POWERSTRIP = "GET /powerstrip/{powerstrip_id}"
UPDATE_POWERSTRIP = "PUT /powerstrip/{powerstrip_id}"
DELETE_POWERSTRIP = "DELETE /powerstrip/{powerstrip_id}"
USAGE = "GET /powerstrip/{powerstrip_id}/usage"
CHECKIN = "GET /powerstrip/{powerstrip_id}/checkin"
REBOOT = "GET /powerstrip/{powerstrip_id}/reboot"
ENABLE_PAIRING = "GET /powerstrip/{powerstrip_id}/enable_pairing"
RESET_PORT = "GET /powerstrip/{powerstrip_id}/port/{port_id}/reset"
GET_NETWORK_SETTINGS = "GET /powerstrip/network/{network_id}/settings"
UPDATE_NETWORK_SETTINGS = "PUT /powerstrip/network/{network_id}/settings"
EXPEDITE_UPGRADE = "GET /powerstrip/network/{network_id}/expedite_upgrade"
FIRMWARE_VERSIONS = "GET /powerstrip/network/{network_id}/firmware_versions"

POWERSTRIP_ENDPOINTS: tuple[str, ...] = (
    LIST_POWERSTRIPS,
    CREATE_POWERSTRIP,
    GET_POWERSTRIP,
    UPDATE_POWERSTRIP,
    DELETE_POWERSTRIP,
    USAGE,
    CHECKIN,
    REBOOT,
    ENABLE_PAIRING,
    RESET_PORT,
    GET_NETWORK_SETTINGS,
    UPDATE_NETWORK_SETTINGS,
    EXPEDITE_UPGRADE,
    FIRMWARE_VERSIONS,
)
"""The 14 documented power-strip endpoints, in the order of the vendor's table."""

ALL_ENDPOINTS: tuple[str, ...] = (NETWORK_LIST, TIME, *POWERSTRIP_ENDPOINTS)


def split(template: str) -> tuple[str, str]:
    """`"GET /powerstrip/{powerstrip_id}"` -> `("GET", "/powerstrip/{powerstrip_id}")`."""
    method, _, path = template.partition(" ")
    return method, path
