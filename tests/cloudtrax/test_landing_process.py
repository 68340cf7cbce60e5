"""The landing page of the running exporter shows each network's strips and ports with their state,
a strip that is down first and marked, and upstream names escaped (a target is a network: before,
the page listed only networks, which stay up while one of their strips is down)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from tests.cloudtrax.conftest import KEY, SECRET, SEED_NETWORK, exporter_config
from tests.support.process import ExporterProcess

HOSTILE_NAME = '<script>alert("x")</script> & rack'
HOSTILE_LABEL = "<b>nas</b>"


@pytest.fixture
async def sim() -> AsyncIterator[CloudTraxSimulator]:
    async with CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=2, networks=1) as simulator:
        yield simulator


def strip_rows(page: str, network: int) -> list[tuple[str, str, str, str, str]]:
    """(row class, id, name, state cell, ports cell) of each strip row of one network's table, in page order."""
    section = re.search(rf"<summary>cloudtrax {network}: .*?</details>", page, re.S)
    assert section, f"no table for network {network}:\n{page}"
    row = r'<tr( class="attention-row")?><td>strip</td><td>(\d+)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>'
    return [(cls, sid, name, state, ports) for cls, sid, name, state, ports in re.findall(row, section.group(0))]


async def test_down_strips_are_listed_first_and_marked(tmp_path: Path, sim: CloudTraxSimulator) -> None:
    # The vendor document's network: strip 1 up (six ports), strip 2 down. Give strip 1 hostile text.
    sim.state.update(1, {"name": HOSTILE_NAME, "ports": [{"port_id": 3, "enable": False, "label": HOSTILE_LABEL}]}, 0)
    async with ExporterProcess(tmp_path, exporter_config(sim)) as exp:

        async def listed() -> bool:
            _, page = await exp.get("/")
            return f"<summary>cloudtrax {SEED_NETWORK}: " in page

        await exp.wait_for(listed, timeout=30, what="the seed network's strips on /")
        status, page = await exp.get("/")
        assert status == 200
        rows = strip_rows(page, SEED_NETWORK)
        assert [(cls, sid) for cls, sid, *_ in rows] == [(' class="attention-row"', "2"), ("", "1")], rows
        assert rows[0][3] == '<span class="attention">down</span>'
        assert rows[1][3] == '<span class="state">up</span>'
        # In the targets table, the network itself is up; its summary says a strip is down.
        target_row = re.search(rf"<tr><td>cloudtrax</td><td>{SEED_NETWORK}</td>.*?</tr>", page)
        assert target_row and '<td class="up">up</td>' in target_row.group(0)
        assert '2 strips, <span class="attention">1 down</span>' in target_row.group(0)

        name, ports = rows[1][2], rows[1][4]
        assert name == html.escape(HOSTILE_NAME) and "<script>" not in page
        assert f'port 3 {html.escape(HOSTILE_LABEL)}: <span class="state">off</span>' in ports
        assert re.search(r'port 1 [^:]*: <span class="state">on</span>', ports)

        # The running strip goes down: the next poll shows it, and the network's table is open.
        sim.set_strip_online(1, False)

        async def both_down() -> bool:
            _, page = await exp.get("/")
            return [state for *_, state, _ in strip_rows(page, SEED_NETWORK)] == [
                '<span class="attention">down</span>'
            ] * 2

        await exp.wait_for(both_down, timeout=30, what="strip 1 shown down")
        _, page = await exp.get("/")
        assert f"<details open><summary>cloudtrax {SEED_NETWORK}: 2 strips, " in page
