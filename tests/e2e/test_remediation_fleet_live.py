"""One action per episode across a fleet: two exporter shards, each with its own state directory, behind an
HA pair of real clustered Alertmanagers that notify both shards, with real Prometheus and two DLI simulators.

    probe server <--scrape 1s-- prometheus (probe alert + shipped alerts.yml) --> alertmanager A <--gossip--> B
        both Alertmanagers --webhook--> shard 0 and shard 1 (the docs' per-replica webhook_configs)
        shard 0 polls pdu A, shard 1 polls pdu B (--shard.count 2); each answers the other's alerts not_owned

Along the way shard 0 restarts while its alert keeps firing, and comes back to a PDU that answers 503
(no data yet): a new alert for that PDU is answered 503, Alertmanager retries, and once the PDU answers
the retry acts. Every episode must end with exactly one cycle, counted by the simulators themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.engine.engine import Shard
from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.e2e import alerting_stack, live
from tests.ops import opslib
from tests.support.process import ExporterProcess, find, free_port, parse_metrics, value

TOKEN = "4d9e1b7c02fa83e6b5c1d0a9"
PASSWORD = "q7Vx-31kd-pw"
DEADLINE = 90.0


def owned_by(index: int) -> str:
    """A device name shard `index` of two owns."""
    return next(f"pdu-{i}" for i in range(100) if Shard(index, 2).owns("dli", f"pdu-{i}"))


PDU_A, PDU_B = owned_by(0), owned_by(1)
HOSTS = {"host-a1": (PDU_A, 1), "host-a3": (PDU_A, 3), "host-b1": (PDU_B, 1)}


def exporter_config(urls: dict[str, str], token_file: Path) -> str:
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "1m", "backoff_max": "1s", "jitter": 0.0},
            "targets": [
                {"source": "dli", "name": name, "url": url, "username": DEFAULT_USERNAME, "password": PASSWORD}
                for name, url in urls.items()
            ],
            "actions": {
                "cooldown": "1ms",
                "tokens": [
                    {
                        "name": "alertmanager",
                        "token_file": str(token_file),
                        "allow": [{"actions": ["dli.outlet_cycle"], "targets": [PDU_A, PDU_B]}],
                    }
                ],
            },
            "remediation": {
                "token": "alertmanager",
                "rules": [
                    {
                        "name": "cycle-host",
                        "matchers": ['alertname="HostProbeFailing"'],
                        "action": "dli.outlet_cycle",
                        "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
                        "dry_run": False,
                        "min_firing": "1s",
                        "budget_per_hour": 10,
                        "verify_within": "10m",
                    }
                ],
            },
        },
        sort_keys=False,
    )


def alertmanager_config(webhooks: list[str], token_file: Path) -> str:
    """The remediation route of docs/remediation.md, with one webhook per replica."""
    auth = {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}
    return yaml.safe_dump(
        {
            "route": {
                "receiver": "ignore",
                "group_by": ["alertname", "host"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "2s",
                "routes": [{"matchers": ['alertname="HostProbeFailing"'], "receiver": "remediation"}],
            },
            "receivers": [
                {"name": "ignore"},
                {
                    "name": "remediation",
                    "webhook_configs": [{"url": url, "send_resolved": True, "http_config": auth} for url in webhooks],
                },
            ],
        },
        sort_keys=False,
    )


@dataclass
class Fleet:
    loop: live.LoopThread
    probes: alerting_stack.ProbeServer
    sims: dict[str, DliSimulator]
    shards: list[ExporterProcess]
    workdir: Path
    token_file: Path
    alertmanagers: list[live.ChildProcess]
    am_urls: list[str]
    actions_ports: list[int]

    def cycles(self, host: str) -> int:
        pdu, outlet = HOSTS[host]
        stats = live.http("GET", f"{self.sims[pdu].url}/_sim/stats").json()
        return int(stats["requests"].get(f"POST /restapi/relay/outlets/{outlet}/cycle/", 0))

    def all_cycles(self) -> dict[str, int]:
        out = {}
        for pdu, sim in self.sims.items():
            stats = live.http("GET", f"{sim.url}/_sim/stats").json()
            for key, n in stats["requests"].items():
                if key.endswith("/cycle/"):
                    out[f"{pdu} {key}"] = int(n)
        return out

    def result(self, shard: int, result: str) -> float:
        samples = self.loop.run(self.shards[shard].metrics())
        return value(samples, "powerstrip_exporter_remediations_total", rule="cycle-host", result=result) or 0.0

    def diagnostics(self) -> str:
        cycles = self.all_cycles()
        tails = "\n".join(f"--- shard {i} ---\n{s.logs()[-2500:]}" for i, s in enumerate(self.shards))
        ams = "\n".join(am.logs(1500) for am in self.alertmanagers)
        return f"cycles: {cycles}\n{tails}\n{ams}"

    def wait(self, predicate: Any, what: str) -> Any:
        return live.wait_until(predicate, timeout=DEADLINE, what=what, diagnostics=self.diagnostics)

    def start_shard(self, index: int, port: int | None = None) -> ExporterProcess:
        state = self.workdir / f"state-{index}"
        state.mkdir(exist_ok=True)
        workdir = self.workdir / f"shard-{index}"
        workdir.mkdir(exist_ok=True)
        urls = {name: sim.url for name, sim in self.sims.items()}
        exp = ExporterProcess(
            workdir,
            exporter_config(urls, self.token_file),
            args=[
                *("--shard.count", "2", "--shard.index", str(index)),
                *("--storage.path", str(state)),
                *("--web.actions-listen-address", f"127.0.0.1:{self.actions_ports[index]}"),
                *("--log.format", "json"),
            ],
            env=live.CHECKOUT_ENV,
        )
        if port is not None:  # a restart keeps its scrape address, as a pod keeps its name
            exp.port, exp.url = port, f"http://127.0.0.1:{port}"
        self.loop.run(exp.__aenter__(), timeout=40)
        return exp


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    opslib.require_binary("prometheus")
    opslib.require_binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("fleet")
    token_file = workdir / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    with contextlib.ExitStack() as cleanup:
        loop = live.LoopThread().start()
        cleanup.callback(loop.stop)
        labels = {host: {"pdu": pdu, "outlet": str(outlet)} for host, (pdu, outlet) in HOSTS.items()}
        probes = alerting_stack.probe_server(loop, cleanup, labels)
        sims = {pdu: alerting_stack.dli_unit(loop, cleanup, PASSWORD) for pdu in (PDU_A, PDU_B)}
        fleet = Fleet(loop, probes, sims, [], workdir, token_file, [], [], [free_port(), free_port()])
        cleanup.callback(lambda: [loop.run(s.stop()) for s in fleet.shards])
        for index in (0, 1):
            fleet.shards.append(fleet.start_shard(index))
        for index, pdu in enumerate((PDU_A, PDU_B)):
            loop.run(fleet.shards[index].wait_for_sample("dli_outlet_info", None, device=pdu, outlet="7"), timeout=40)

        webhooks = [f"http://127.0.0.1:{p}/api/v1/remediation/alertmanager" for p in fleet.actions_ports]
        pair = alerting_stack.alertmanager_pair(workdir, alertmanager_config(webhooks, token_file), cleanup)
        fleet.alertmanagers, fleet.am_urls = pair.processes, pair.urls
        scrape = {
            "blackbox": [f"127.0.0.1:{probes.port}"],
            "powerstrip": [s.url.removeprefix("http://") for s in fleet.shards],
        }
        prometheus, prom = alerting_stack.prometheus(workdir, scrape, pair, alerting_stack.PROBE_RULES, cleanup)

        def scraped() -> bool:
            prometheus.check_running()
            return live.reachable(f"{prom.url}/-/ready") and bool(prom.query('probe_success{host="host-a1"}'))

        live.wait_until(scraped, timeout=60, what="prometheus scraping the probes", diagnostics=prometheus.logs)
        yield fleet
        for proc in (prometheus, *fleet.alertmanagers):
            assert proc.stop() == 0, f"{proc.name} did not exit cleanly:\n{proc.logs()}"


def test_each_episode_gets_exactly_one_action_across_shards_restarts_and_an_ha_pair(fleet: Fleet) -> None:
    # Host a1 (pdu A, shard 0's) fails: shard 0 cycles it once; shard 1 answers every copy not_owned.
    fleet.probes.set("host-a1", up=False)
    fleet.wait(lambda: fleet.cycles("host-a1") >= 1, "shard 0 to cycle host a1's outlet")
    fleet.wait(lambda: fleet.result(0, "duplicate") >= 4, "resends from both Alertmanagers to shard 0")
    fleet.wait(lambda: fleet.result(1, "not_owned") >= 4, "shard 1 to answer the same alerts not_owned")
    assert fleet.result(1, "acted") == 0 and fleet.result(1, "refused") == 0

    # Shard 0 restarts while a1 keeps firing, and finds pdu A answering 503: no data yet.
    port = fleet.shards[0].port
    assert fleet.loop.run(fleet.shards[0].stop()) == 0
    fleet.loop.call(lambda: fleet.sims[PDU_A].set_faults(http_status=503))
    fleet.shards[0] = fleet.start_shard(0, port)
    fleet.wait(lambda: fleet.result(0, "duplicate") >= 2, "resends of a1 to the restarted shard 0: remembered")

    # Host a3 (pdu A) fails while shard 0 has no data for pdu A: answered 503, and Alertmanager retries.
    fleet.probes.set("host-a3", up=False)
    fleet.wait(lambda: fleet.result(0, "not_ready") >= 1, "shard 0 to answer host a3 not_ready (503)")
    assert fleet.cycles("host-a3") == 0
    fleet.loop.call(lambda: fleet.sims[PDU_A].clear_faults())
    fleet.wait(lambda: fleet.cycles("host-a3") >= 1, "Alertmanager's retry to cycle host a3's outlet")

    # Host b1 (pdu B) fails: shard 1's, shard 0 answers not_owned.
    fleet.probes.set("host-b1", up=False)
    fleet.wait(lambda: fleet.cycles("host-b1") >= 1, "shard 1 to cycle host b1's outlet")
    before = fleet.result(0, "duplicate") + fleet.result(1, "duplicate")
    fleet.wait(
        lambda: fleet.result(0, "duplicate") + fleet.result(1, "duplicate") >= before + 8,
        "more resends of all three episodes",
    )

    assert {h: fleet.cycles(h) for h in HOSTS} == dict.fromkeys(HOSTS, 1)
    assert sum(fleet.all_cycles().values()) == 3  # nothing else was cycled on either PDU
    assert fleet.result(0, "acted") == 1 and fleet.result(1, "acted") == 1  # a1 acted before the restart
    failed = 0.0
    for url in fleet.am_urls:  # both members of the pair delivered, and they saw the 503
        sent = parse_metrics(live.http("GET", f"{url}/metrics").body.decode())
        assert (value(sent, "alertmanager_notifications_total", integration="webhook") or 0) > 0, url
        failed += sum(
            v for _, v in find(sent, "alertmanager_notification_requests_failed_total", integration="webhook")
        )
    assert failed >= 1  # the 503s: requests that failed and were retried
    for host in HOSTS:
        fleet.probes.set(host, up=True)
