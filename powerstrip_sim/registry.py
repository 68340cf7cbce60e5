"""The one place that names the simulators: `simulate NAME` and `demo` find them here.

A vendor's simulator lives in `powerstrip_sim/<vendor>/`; adding one is a folder there and
one line in each of `SIMULATORS` and `DEMOS`. The exporter's source registry knows nothing of these.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from powerstrip_sim.cloudtrax.cli import SimulatorCommand
from powerstrip_sim.cloudtrax.demo import start_demo as start_cloudtrax_demo
from powerstrip_sim.dli.cli import DliSimulatorCommand
from powerstrip_sim.dli.demo import start_demo as start_dli_demo


class Simulator(Protocol):
    """A vendor API simulator, runnable standalone (`powerstrip-exporter simulate NAME`)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    async def serve(self, args: argparse.Namespace) -> None:
        """Start serving, print the URL, and run until cancelled."""


class DemoFleet(Protocol):
    """A running simulator fleet for `powerstrip-exporter demo`."""

    entries: list[dict[str, object]]
    """Raw config entries (as YAML would give them) pointing at the simulator."""

    description: str

    async def aclose(self) -> None: ...


class StartDemo(Protocol):
    async def __call__(self, host: str) -> DemoFleet: ...


SIMULATORS: dict[str, Simulator] = {"cloudtrax": SimulatorCommand(), "dli": DliSimulatorCommand()}
"""Source name -> its standalone simulator command."""

DEMOS: dict[str, StartDemo] = {"cloudtrax": start_cloudtrax_demo, "dli": start_dli_demo}
"""Source name -> the coroutine function that starts its part of the demo fleet."""
