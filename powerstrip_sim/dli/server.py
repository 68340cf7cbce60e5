"""`DliSimulator`: a real HTTP server on a loopback port, with a Python API for tests.

async with DliSimulator(model="epcr") as sim:
    sim.url, sim.username, sim.password     # where and how to log in
    sim.set_faults(http_status=503)         # runtime faults (also PUT /_sim/faults)
    sim.device.outlets[3].locked = True     # direct state access
    sim.stats.requests["GET /restapi/relay/outlets/"]
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from powerstrip_sim.dli.app import Behaviour, RestApi, Stats, make_app, user_table
from powerstrip_sim.dli.device import SimDevice, SimUser
from powerstrip_sim.dli.digest import DigestVerifier
from powerstrip_sim.dli.faults import Faults
from powerstrip_sim.dli.models import MODELS, MeterNaming
from powerstrip_sim.mains import NORTH_AMERICA, Mains

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "1234"  # noqa: S105 - the factory default of real units, used by the simulator only


class DliSimulator:
    """One simulated DLI controller. Cheap: one small aiohttp app and no background tasks."""

    def __init__(
        self,
        model: str = "pro",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        users: Mapping[str, tuple[str, bool]] | None = None,
        allow_basic: bool = False,
        cycle_delay: float = 1.0,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        meter_keys: Mapping[str, str | None] | None = None,
        meter_quantities: Mapping[str, str] | None = None,
        drift: bool = False,
        serial: str = "",
        hostname: str = "",
        ssl_context: ssl.SSLContext | None = None,
        behaviour: Behaviour | None = None,
        mains: Mains = NORTH_AMERICA,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self._ssl = ssl_context
        self.device = SimDevice(
            MODELS[model],
            clock=clock,
            cycle_delay=cycle_delay,
            naming=MeterNaming.build(meter_keys, meter_quantities),
            serial=serial,
            hostname=hostname,
            drift=drift,
            mains=mains,
        )
        self.users: dict[str, SimUser] = {username: SimUser(password, is_admin=True)}
        for name, (pw, admin) in (users or {}).items():
            self.users[name] = SimUser(pw, is_admin=admin)
        self.verifier = DigestVerifier(user_table(self.users), allow_basic=allow_basic)
        self.api = RestApi(self.device, self.users, self.verifier, behaviour or Behaviour(), self._apply_device_faults)
        if latency:
            self.api.set_faults(Faults(latency=latency))
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        # Bind the socket ourselves so port 0 resolves to a known port before serving.
        family, kind, proto, _, addr = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        runner = web.AppRunner(make_app(self.api), access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            await runner.setup()
            await web.SockSite(runner, sock, ssl_context=self._ssl).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DliSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    # -- steering --------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.device.model.key

    @property
    def faults(self) -> Faults:
        return self.api.faults

    @property
    def stats(self) -> Stats:
        return self.api.stats

    def set_faults(self, **changes: Any) -> Faults:
        """Switch faults on or off (merged into the current set); same keys as `/_sim/faults`."""
        self.api.set_faults(self.api.faults.merged(changes))
        return self.api.faults

    def clear_faults(self) -> None:
        self.api.set_faults(Faults())

    def _apply_device_faults(self, faults: Faults) -> None:
        locks = faults.locked_outlets
        self.device.forced_locks = frozenset(locks) if locks is not None else None
        self.device.advance()  # energy up to now counts the relays as they were
        self.device.failed_relays = frozenset(faults.failed_relays or ())
