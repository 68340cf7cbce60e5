"""A network target keeps the strips and ports of its last poll, for actions (not metric label positions)."""

from __future__ import annotations

from exporter.sources.cloudtrax import metrics as m
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import FakeClock, by_labels, make_entry, make_group, only_target


async def test_inventory_matches_the_published_strips_and_ports(sim: CloudTraxSimulator, clock: FakeClock) -> None:
    group = make_group(make_entry(sim.url, networks=[12345]), clock=clock)
    try:
        target = await only_target(group)
        assert target.inventory is None, "no inventory before the first poll"
        samples = await target.poll()
        assert target.inventory is not None
        published: dict[int, set[int]] = {}
        strip_at = m.POWERSTRIP_INFO.labels.index("powerstrip_id")
        for labels in by_labels(samples, m.POWERSTRIP_INFO.name):
            published.setdefault(int(labels[strip_at]), set())
        strip_at, port_at = m.PORT_INFO.labels.index("powerstrip_id"), m.PORT_INFO.labels.index("port")
        for labels in by_labels(samples, m.PORT_INFO.name):
            published[int(labels[strip_at])].add(int(labels[port_at]))
        assert {strip: set(ports) for strip, ports in target.inventory.ports.items()} == published
        assert published, "the seed network has strips"
    finally:
        await group.aclose()
