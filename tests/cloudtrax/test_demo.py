"""The demo fleet: two networks with a down strip and a strip needing pairing, reachable by its entries."""

from __future__ import annotations

import yaml

from exporter.config.loader import parse_config
from exporter.config.model import effective_settings
from exporter.sources.api import SourceContext
from exporter.sources.cloudtrax import CloudTraxSource
from powerstrip_sim.registry import DEMOS
from tests.cloudtrax.conftest import by_labels


async def test_demo_fleet_is_polled_through_its_own_entries() -> None:
    fleet = await DEMOS["cloudtrax"]("127.0.0.1")
    try:
        config = parse_config(yaml.safe_dump({"targets": fleet.entries}), {"cloudtrax": CloudTraxSource})
        (entry,) = config.entries
        settings = effective_settings(entry, config.global_)
        assert settings.interval == 5.0
        group = CloudTraxSource.build_group(entry, settings, SourceContext("cloudtrax", 8))
        try:
            targets = await group.discover()
            assert sorted(t.name for t in targets) == ["12345", "67890"]
            up: dict[tuple[str, ...], float] = {}
            pairing: dict[tuple[str, ...], float] = {}
            for target in targets:
                samples = await target.poll()
                up |= by_labels(samples, "cloudtrax_powerstrip_up")
                pairing |= by_labels(samples, "cloudtrax_powerstrip_need_pairing")
            assert len(up) >= 6
            assert {k[0] for k in up} == {"12345", "67890"}
            for network in ("12345", "67890"):
                assert any(v == 0 for k, v in up.items() if k[0] == network), f"no down strip in {network}"
                assert any(v == 1 for k, v in pairing.items() if k[0] == network), f"no pairing strip in {network}"
        finally:
            await group.aclose()
        assert "12345" in fleet.description and "67890" in fleet.description
    finally:
        await fleet.aclose()
