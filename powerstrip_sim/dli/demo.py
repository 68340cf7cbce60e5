"""`powerstrip-exporter demo`: a Pro, an EPCR with meters and a DIN4 with a sensor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from powerstrip_sim.dli.server import DliSimulator

DEMO_DEVICES = (("dli-pro", "pro"), ("dli-epcr", "epcr"), ("dli-din4", "din4"))


@dataclass
class DliDemoFleet:
    """Running simulators and the config entries that point at them."""

    simulators: list[DliSimulator]
    entries: list[dict[str, object]] = field(default_factory=list)
    description: str = ""

    async def aclose(self) -> None:
        await asyncio.gather(*(sim.stop() for sim in self.simulators))


async def start_demo(host: str) -> DliDemoFleet:
    sims: list[DliSimulator] = []
    try:
        for _name, model in DEMO_DEVICES:
            sim = DliSimulator(model, host=host, drift=True, cycle_delay=3.0)
            await sim.start()
            sims.append(sim)
    except BaseException:
        for sim in sims:
            await sim.stop()
        raise
    entries: list[dict[str, object]] = [
        {
            "source": "dli",
            "name": name,
            "url": sim.url,
            "username": sim.username,
            "password": sim.password,
            "interval": "5s",
            "timeout": "4s",
            "identity_interval": "1m",
        }
        for (name, _model), sim in zip(DEMO_DEVICES, sims, strict=True)
    ]
    description = "; ".join(
        f"{name} = {sim.device.model.description} at {sim.url}"
        for (name, _model), sim in zip(DEMO_DEVICES, sims, strict=True)
    )
    return DliDemoFleet(sims, entries, description)
