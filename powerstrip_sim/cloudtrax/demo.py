"""The CloudTrax part of `powerstrip-exporter demo`: a simulator and a config entry for it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from powerstrip_sim.cloudtrax.app import CloudTraxSimulator
from powerstrip_sim.cloudtrax.seed import SEED_NETWORK_ID

BRANCH_NETWORK_ID = 67890


@dataclass
class CloudTraxDemo:
    simulator: CloudTraxSimulator
    entries: list[dict[str, object]] = field(default_factory=list)
    description: str = ""

    async def aclose(self) -> None:
        await self.simulator.stop()


def build_demo_simulator(host: str) -> CloudTraxSimulator:
    """Two networks: the vendor document's (one strip up, one down) plus a pairing strip,
    and a branch office whose strips include one down and one needing pairing."""
    sim = CloudTraxSimulator(host=host)
    now = sim.now()
    state = sim.state
    state.load_seed(now, SEED_NETWORK_ID, exact=False)
    state.networks[SEED_NETWORK_ID].name = "Head office"
    rng = random.Random(7)  # noqa: S311 - simulated data, not cryptography
    pairing = state.add_strip(state.generate_strip(SEED_NETWORK_ID, rng, now))
    pairing.name, pairing.need_pairing = "Lobby (new)", True
    state.add_network(BRANCH_NETWORK_ID, "Branch office")
    names = ("Server rack", "Comms cupboard", "Reception", "Workshop")
    strips = [state.add_strip(state.generate_strip(BRANCH_NETWORK_ID, rng, now)) for _ in names]
    for strip, name in zip(strips, names, strict=True):
        strip.name = name
    state.set_online(strips[2].powerstrip_id, False, now)
    strips[3].need_pairing = True
    state.networks[BRANCH_NETWORK_ID].settings["enable_upgrade"] = True
    return sim


async def start_demo(host: str) -> CloudTraxDemo:
    sim = await build_demo_simulator(host).start()
    entry: dict[str, object] = {
        "source": "cloudtrax",
        "name": "demo-cloudtrax",
        "key": sim.key,
        "secret": sim.secret,
        "base_url": sim.url,
        "networks": "all",
        "interval": "5s",
        "usage_interval": "10s",
        "settings_interval": "10s",
        "discovery_interval": "10s",
    }
    strips = len(sim.state.strips)
    description = (
        f"CloudTrax simulator at {sim.url}: networks {SEED_NETWORK_ID} and {BRANCH_NETWORK_ID}, "
        f"{strips} power strips (two down, two needing pairing)"
    )
    return CloudTraxDemo(sim, [entry], description)
