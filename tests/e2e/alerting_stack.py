"""The alerting half of the remediation live tests: a probe server, an HA pair of clustered Alertmanagers
and a Prometheus.

Everything listens on 127.0.0.1; every process is registered with the caller's ExitStack, stopped by PID.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from powerstrip_sim.dli import DliSimulator
from tests.e2e import live
from tests.ops import opslib
from tests.support.process import free_port


@dataclass
class ProbeServer:
    """Serves `probe_success` per host, as a blackbox exporter would; tests flip hosts up and down.

    `hosts`: each host's labels besides `host` (which PDU and outlet feed it, and so on)."""

    hosts: dict[str, dict[str, str]]
    up: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _runner: web.AppRunner | None = None

    def set(self, host: str, up: bool) -> None:
        with self._lock:
            self.up[host] = int(up)

    async def _metrics(self, request: web.Request) -> web.Response:
        lines = ["# HELP probe_success Whether the probe succeeded.", "# TYPE probe_success gauge"]
        with self._lock:
            for host, labels in self.hosts.items():
                text = ",".join(f'{k}="{v}"' for k, v in {"host": host, **labels}.items())
                lines.append(f"probe_success{{{text}}} {self.up.get(host, 1)}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def start(self) -> ProbeServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


PROBE_RULES = {
    "groups": [{"name": "probes", "rules": [{"alert": "HostProbeFailing", "expr": "probe_success == 0", "for": "1s"}]}]
}
"""The alert remediation acts on in the live tests: a host's probe fails."""


def probe_server(loop: live.LoopThread, cleanup: contextlib.ExitStack, hosts: dict[str, dict[str, str]]) -> ProbeServer:
    probes = loop.run(ProbeServer(hosts).start())
    cleanup.callback(lambda: loop.run(probes.stop()))
    return probes


def dli_unit(loop: live.LoopThread, cleanup: contextlib.ExitStack, password: str) -> DliSimulator:
    """A simulated DLI Pro with outlets 1 to 7 on (cycling an outlet that is off is refused)."""
    sim = DliSimulator("pro", cycle_delay=0.1, password=password)
    loop.run(sim.__aenter__())
    cleanup.callback(lambda: loop.run(sim.__aexit__(None, None, None)))
    for outlet in range(1, 8):
        loop.call(lambda outlet=outlet: sim.device.set_state(outlet, True))
    return sim


@dataclass(frozen=True)
class Pair:
    processes: list[live.ChildProcess]
    urls: list[str]


def alertmanager_pair(workdir: Path, config_text: str, cleanup: contextlib.ExitStack) -> Pair:
    """Two Alertmanagers gossiping on loopback, both with `config_text`; returns once they form a cluster.

    A short peer timeout makes the second send its own copy instead of waiting for the first's
    notification log: the receiver is guaranteed duplicates, as a real pair sends them under load."""
    binary = opslib.require_binary("prometheus-alertmanager")
    cluster_ports = [free_port(), free_port()]
    pair, urls = [], []
    for i in range(2):
        cluster = (
            f"--cluster.listen-address=127.0.0.1:{cluster_ports[i]}",
            f"--cluster.peer=127.0.0.1:{cluster_ports[1 - i]}",
            "--cluster.peer-timeout=10ms",
            "--cluster.gossip-interval=50ms",
        )
        am, api = live.start_alertmanager(cleanup, binary, workdir / f"alertmanager-{i}", config_text, cluster)
        pair.append(am)
        urls.append(api.url)

    def clustered() -> bool:
        for am in pair:
            am.check_running()
        if not all(live.reachable(f"{url}/-/ready") for url in urls):
            return False
        return all(len(live.http("GET", f"{url}/api/v2/status").json()["cluster"]["peers"]) == 2 for url in urls)

    live.wait_until(clustered, timeout=60, what="the two Alertmanagers to form a cluster")
    return Pair(pair, urls)


def prometheus(
    workdir: Path,
    scrape: dict[str, list[str]],
    alertmanagers: Pair,
    extra_rules: dict[str, Any],
    cleanup: contextlib.ExitStack,
) -> tuple[live.ChildProcess, live.Prometheus]:
    """Prometheus scraping `scrape` (job -> targets) every second, with the shipped rules (every `for`
    set to 1s) and `extra_rules`, sending alerts to `alertmanagers`."""
    prom_dir = workdir / "prometheus"
    rule_files = opslib.write_fast_rules(prom_dir, "1s")
    (prom_dir / "extra.yml").write_text(yaml.safe_dump(extra_rules), encoding="utf-8")
    am_targets = [url.removeprefix("http://") for url in alertmanagers.urls]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": am_targets}]}]},
        "rule_files": [str(p) for p in [*rule_files, prom_dir / "extra.yml"]],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": t}]} for job, t in scrape.items()],
    }
    return live.start_prometheus(cleanup, opslib.require_binary("prometheus"), prom_dir, yaml.safe_dump(config))
