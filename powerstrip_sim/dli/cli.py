"""`powerstrip-exporter simulate dli ...`: run simulated controllers until cancelled."""

from __future__ import annotations

import argparse
import asyncio
import sys

from powerstrip_sim.dli.models import MODELS, ROLE_QUANTITY
from powerstrip_sim.dli.server import DEFAULT_PASSWORD, DEFAULT_USERNAME, DliSimulator
from powerstrip_sim.mains import MAINS


def _pair(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


class DliSimulatorCommand:
    """Implements the core's `Simulator` protocol for DLI."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=0, help="port of the first device (0 = any free port)")
        parser.add_argument("--model", choices=sorted(MODELS), default="pro", help="hardware model (default pro)")
        parser.add_argument("--count", type=int, default=1, help="number of devices, on consecutive ports")
        parser.add_argument("--username", default=DEFAULT_USERNAME, help="admin user (default admin)")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="admin password (default 1234)")
        parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
        parser.add_argument("--cycle-delay", type=float, default=1.0, help="seconds an outlet stays off in a cycle")
        parser.add_argument("--allow-basic", action="store_true", help="also accept HTTP Basic auth")
        parser.add_argument(
            "--mains", choices=sorted(MAINS), default="120", help="nominal supply voltage of the buses (default 120)"
        )
        parser.add_argument(
            "--meter-key",
            action="append",
            type=_pair,
            default=[],
            metavar="ROLE=TEMPLATE",
            help=f"override a meter key, e.g. bus_voltage=bus.{{bus}}.voltage (roles: {', '.join(ROLE_QUANTITY)};"
            " an empty template removes the meter)",
        )
        parser.add_argument(
            "--meter-quantity",
            action="append",
            type=_pair,
            default=[],
            metavar="QUANTITY=NAME",
            help="report a quantity under another name, e.g. energy=total_energy",
        )

    async def serve(self, args: argparse.Namespace) -> None:
        if args.count < 1:
            raise SystemExit("--count must be at least 1")
        keys = {role: (template or None) for role, template in args.meter_key}
        sims = []
        try:
            for i in range(args.count):
                sim = DliSimulator(
                    args.model,
                    host=args.host,
                    port=args.port + i if args.port else 0,
                    username=args.username,
                    password=args.password,
                    allow_basic=args.allow_basic,
                    latency=args.latency,
                    cycle_delay=args.cycle_delay,
                    meter_keys=keys,
                    meter_quantities=dict(args.meter_quantity),
                    drift=True,
                    mains=MAINS[args.mains],
                )
                await sim.start()
                sims.append(sim)
                print(f"dli {sim.model} simulator: {sim.url}", flush=True)
            print(
                f"credentials: username {args.username!r}, password {args.password!r} (digest auth); "
                f"faults: PUT {sims[0].url}/_sim/faults",
                flush=True,
            )
            await asyncio.Event().wait()
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        finally:
            for sim in sims:
                await sim.stop()
