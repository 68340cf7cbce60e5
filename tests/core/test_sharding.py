"""--shard.count/--shard.index: replicas split targets by a stable hash and never overlap."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.daemon import Daemon
from exporter.engine.engine import Shard
from tests.core.conftest import SOURCES, eventually
from tests.core.fake_exporter import ENV, FakeExporter
from tests.core.fake_source import script
from tests.support.process import find

NAMES = [f"net{i}" for i in range(40)]
CONFIG = (
    "global: {interval: 50ms, timeout: 50ms, jitter: 0}\n"
    "targets: [{source: fake, name: discovered, targets: [" + ", ".join(NAMES) + "]}]\n"
)


def test_shard_assignment_is_stable_and_total() -> None:
    shards = [Shard(i, 3) for i in range(3)]
    for name in NAMES:
        owners = [s.index for s in shards if s.owns("fake", name)]
        assert len(owners) == 1, name
    assert [Shard(1, 3).owns("fake", n) for n in NAMES] == [Shard(1, 3).owns("fake", n) for n in NAMES]
    sizes = [sum(s.owns("fake", n) for n in NAMES) for s in shards]
    assert min(sizes) >= 5, f"unbalanced split {sizes}"


async def test_three_replicas_cover_every_discovered_target_exactly_once(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(CONFIG)
    daemons = [Daemon(tmp_path / "c.yml", SOURCES, Shard(i, 3)) for i in range(3)]
    try:
        for d in daemons:
            await d.start()
        await eventually(lambda: all(d.engine.is_ready() for d in daemons), what="all replicas ready")
        owned = [set(name for _, name in d.engine.store.states) for d in daemons]
        assert set().union(*owned) == set(NAMES)
        assert sum(len(o) for o in owned) == len(NAMES), "no target is polled twice"
        assert all(script(n).polls >= 1 for n in NAMES)
    finally:
        for d in daemons:
            await d.stop()


@pytest.mark.process
async def test_replica_exports_its_shard_info(tmp_path: Path) -> None:
    async with FakeExporter(tmp_path, CONFIG, env=ENV, args=["--shard.count", "3", "--shard.index", "2"]) as exp:
        mine = {n for n in NAMES if Shard(2, 3).owns("fake", n)}
        await exp.wait_for_sample("powerstrip_exporter_target_up", 1, source="fake", target=sorted(mine)[0])
        m = await exp.wait_for_sample("powerstrip_exporter_shard_info", 1, index="2", count="3")
        targets = {labels["target"] for labels, _ in find(m, "powerstrip_exporter_target_up")}
        assert targets == mine
