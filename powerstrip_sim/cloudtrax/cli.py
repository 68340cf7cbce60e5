"""`powerstrip-exporter simulate cloudtrax`: the simulator as a standalone server."""

from __future__ import annotations

import argparse
import asyncio

from powerstrip_sim.cloudtrax.app import CloudTraxSimulator
from powerstrip_sim.cloudtrax.options import SimulatorOptions
from powerstrip_sim.mains import MAINS


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


class SimulatorCommand:
    """Implements the core's `Simulator` protocol for the CLI."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
        parser.add_argument("--strips", type=_count, default=12, help="simulated power strips (default 12)")
        parser.add_argument("--networks", type=_count, default=2, help="networks to spread them over (default 2)")
        parser.add_argument(
            "--latency", type=_non_negative, default=0.0, help="seconds added to every API request (default 0)"
        )
        parser.add_argument("--key", help="API key to accept (default: random, printed)")
        parser.add_argument("--secret", help="API secret to accept (default: random, printed)")
        parser.add_argument("--seed", type=int, default=1, help="random seed for the generated fleet (default 1)")
        parser.add_argument(
            "--seed-payloads",
            action="store_true",
            help="also serve the vendor document's example network 12345 (strips 1 and 2) verbatim",
        )
        parser.add_argument(
            "--rate-limit", type=_non_negative, default=0.0, help="requests per second before 429 (default: off)"
        )
        parser.add_argument(
            "--lenient-query-signing",
            action="store_true",
            help="also accept signatures computed over the path without its query string",
        )
        parser.add_argument("--time-requires-auth", action="store_true", help="require a signature on GET /time")
        parser.add_argument(
            "--mains", choices=sorted(MAINS), default="120", help="nominal supply voltage of the strips (default 120)"
        )

    def build(self, args: argparse.Namespace) -> CloudTraxSimulator:
        options = SimulatorOptions(
            rate_limit_per_second=args.rate_limit or None,
            query_signing="lenient" if args.lenient_query_signing else "strict",
            time_requires_auth=args.time_requires_auth,
            mains=MAINS[args.mains],
        )
        return CloudTraxSimulator(
            host=args.host,
            port=args.port,
            strips=args.strips,
            networks=args.networks,
            seed=args.seed,
            seed_payloads=args.seed_payloads,
            key=args.key,
            secret=args.secret,
            latency=args.latency,
            options=options,
        )

    async def serve(self, args: argparse.Namespace) -> None:
        """Start, print the URL and credentials, and run until cancelled."""
        async with self.build(args) as sim:
            networks = ", ".join(str(n) for n in sim.state.networks) or "none"
            print(f"CloudTrax simulator listening on {sim.url}", flush=True)
            print(f"  key:      {sim.key}", flush=True)
            print(f"  secret:   {sim.secret}", flush=True)
            print(f"  networks: {networks} ({len(sim.state.strips)} power strips)", flush=True)
            print(f"  control:  {sim.url}/_sim/faults, {sim.url}/_sim/requests", flush=True)
            await asyncio.Event().wait()
