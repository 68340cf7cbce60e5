"""`powerstrip-exporter simulate NAME ...`: the exporter's command line hands these arguments over unparsed."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from powerstrip_sim.registry import SIMULATORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="powerstrip-exporter simulate", description="Run one vendor API simulator.")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, sim in SIMULATORS.items():
        sub = sources.add_parser(name, help=f"simulate the {name} API")
        sim.add_arguments(sub)
        sub.set_defaults(simulator=sim)
    return parser


def simulate(argv: Sequence[str]) -> int:
    """Serve one simulator until interrupted."""
    args = build_parser().parse_args(argv)
    asyncio.run(args.simulator.serve(args))
    return 0
