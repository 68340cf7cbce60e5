"""Fixtures for the CloudTrax tests: a seeded simulator on 127.0.0.1, a client, fake clocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from exporter.metrics.spec import SampleSet
from exporter.sources.api import PollSettings, SourceContext
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.config import CloudTraxEntry
from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.source import CloudTraxGroup, NetworkTarget
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.support.clock import FakeClock

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SECRET = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"


def exporter_config(sim: CloudTraxSimulator, **target: Any) -> str:
    """A config file polling every network of `sim` every second; `target` adds or overrides target keys."""
    entry = {"source": "cloudtrax", "name": "acct", "key": KEY, "secret": SECRET, "base_url": sim.url}
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "1m", "backoff_max": "2s", "jitter": 0.0},
            "targets": [{**entry, "networks": "all", **target}],
        }
    )


SEED_NETWORK = 12345


@pytest.fixture
async def one_network() -> AsyncIterator[CloudTraxSimulator]:
    """A simulator of one network with two strips, both online, each drawing 40 W on port 1."""
    async with CloudTraxSimulator(key=KEY, secret=SECRET, strips=2, networks=1) as simulator:
        for strip in simulator.state.strips.values():
            strip.online = True
            strip.ports[0].enable, strip.ports[0].load_w = True, 40.0
        yield simulator


class RecordingObserver:
    """Stands in for the core's API metrics: records every endpoint template used."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def observe_api_request(self, source: str, endpoint: str, seconds: float) -> None:
        self.calls.append(endpoint)


@pytest.fixture
async def sim() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: CloudTraxSimulator) -> AsyncIterator[CloudTraxClient]:
    async with CloudTraxClient(KEY, SECRET, base_url=sim.url, timeout=5.0) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_entry(base_url: str, **overrides: Any) -> CloudTraxEntry:
    data: dict[str, Any] = {
        "source": "cloudtrax",
        "name": "acct",
        "key": KEY,
        "secret": SECRET,
        "base_url": base_url,
        "networks": [SEED_NETWORK],
        **overrides,
    }
    return CloudTraxEntry.model_validate(data)


def make_group(
    entry: CloudTraxEntry,
    *,
    clock: FakeClock | None = None,
    ledger: EnergyLedger | None = None,
    timeout: float = 5.0,
    observer: RecordingObserver | None = None,
    max_concurrent: int = 8,
) -> CloudTraxGroup:
    settings = PollSettings(interval=60.0, timeout=timeout, stale_after=300.0)
    ctx = SourceContext("cloudtrax", max_concurrent, observer)
    kwargs: dict[str, Any] = {"ledger": ledger or EnergyLedger()}
    if clock is not None:
        kwargs["clock"] = clock
    return CloudTraxGroup(entry, settings, ctx, **kwargs)


def by_labels(samples: SampleSet, name: str) -> dict[tuple[str, ...], float]:
    return dict(samples.get(name))


async def only_target(group: CloudTraxGroup) -> NetworkTarget:
    targets = await group.discover()
    assert len(targets) == 1
    target = targets[0]
    assert isinstance(target, NetworkTarget)
    return target
