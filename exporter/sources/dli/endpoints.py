"""Endpoint templates: the `endpoint` label of the API metrics.

The client names every call by one of these strings, so the API metrics are pre-initialised for
exactly the calls it can make (`DliSource.api_endpoints`).
"""

from __future__ import annotations

OUTLETS = "GET /restapi/relay/outlets/"
OUTLET = "GET /restapi/relay/outlets/{n}/"
METERS = "GET /restapi/meter/values/"
SERIAL = "GET /restapi/config/serial/"
VERSION = "GET /restapi/config/version/"
HOSTNAME = "GET /restapi/config/hostname/"
RELAY_VERSION = "GET /restapi/relay/version/"
RELAY_MODEL = "GET /restapi/relay/model/"
THREADS = "GET /restapi/script/threads/"
CYCLE = "POST /restapi/relay/outlets/{n}/cycle/"
SET_STATE = "PUT /restapi/relay/outlets/{n}/state/"
SET_TRANSIENT = "PUT /restapi/relay/outlets/{n}/transient_state/"
REBOOT = "POST /restapi/system/reboot/"

ALL_ENDPOINTS: tuple[str, ...] = (
    OUTLETS,
    OUTLET,
    METERS,
    SERIAL,
    VERSION,
    HOSTNAME,
    RELAY_VERSION,
    RELAY_MODEL,
    THREADS,
    CYCLE,
    SET_STATE,
    SET_TRANSIENT,
    REBOOT,
)
