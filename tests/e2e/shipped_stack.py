"""The stack of the shipped-intervals run: a healthy fleet in two countries, three exporters, and a real
Prometheus and Alertmanager whose configs are the shipped ones with only their addresses changed.

    CloudTrax simulator: network 100001 on 120 V, network 100002 on 230 V (healthy strips only)
    DLI simulators: dli-120 (EPCR, 120 V), dli-230 (EPCR, 230 V), dli-down and dli-auth (Pro)
        <--poll every 5 s (the demo's schedule)-- exporter "main" (all of them, plus a remediation rule)
                                                  exporter "ops" (dli-230 only: its config is broken on purpose)
                                                  exporter "victim" (dli-230 only: it is stopped on purpose)
        <--scrape 30 s, evaluate 30 s (prometheus.yml as shipped)-- prometheus (rules.yml, alerts.yml as shipped)
        --> prometheus-alertmanager (alertmanager.yml as shipped, receivers pointed at a loopback webhook)

Everything listens on 127.0.0.1; every process is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import signal
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.cloudtrax.state import SimStrip
from powerstrip_sim.dli import DliSimulator
from powerstrip_sim.mains import MAINS
from tests.e2e import live
from tests.ops import opslib
from tests.support.process import ExporterProcess, parse_metrics

SITE_120 = 100001
SITE_230 = 100002
STRIPS_PER_SITE = 4
DLI_UNITS = {
    # name: (model, mains)
    "dli-120": ("epcr", "120"),
    "dli-230": ("epcr", "230"),
    "dli-down": ("pro", "120"),
    "dli-auth": ("pro", "120"),
}
EXPORTER_GLOBAL = {"interval": "5s", "timeout": "4s", "stale_after": "1m", "backoff_max": "30s"}
"""The demo's schedule (`powerstrip-exporter demo`): polls far more often than the 30 s scrapes."""
REMEDIATION_RULE = "e2e-burst"


def healthy_strips(sim: CloudTraxSimulator, network_id: int, mains: str, count: int) -> list[SimStrip]:
    """Strips that raise nothing: up, paired, protected, no subscription or lifecycle dates to warn about."""
    state = sim.state
    state.add_network(network_id, f"{mains} V site")
    rng = random.Random(network_id)
    strips = []
    for _ in range(count):
        strip = state.add_strip(state.generate_strip(network_id, rng, sim.now(), MAINS[mains]))
        strip.need_pairing = False
        strip.surge_protection_active = True
        strip.subscription = None
        strip.lifecycle = None
        strips.append(strip)
    return strips


def alertmanager_config(webhook_url: str) -> str:
    """The shipped alertmanager.yml with each receiver's URL pointed at the webhook (path kept); nothing else."""
    doc = opslib.load_yaml(opslib.PROMETHEUS_DIR / "alertmanager.yml")
    for receiver in doc["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook_url + urllib.parse.urlsplit(hook["url"]).path
    return yaml.safe_dump(doc, sort_keys=False)


def prometheus_config(exporters: list[str], alertmanager: str) -> str:
    """The shipped prometheus.yml with its targets and rule files' paths changed; intervals untouched."""
    doc = opslib.load_yaml(opslib.PROMETHEUS_DIR / "prometheus.yml")
    doc["rule_files"] = [str(opslib.PROMETHEUS_DIR / Path(p).name) for p in doc["rule_files"]]
    [alerting] = doc["alerting"]["alertmanagers"]
    alerting["static_configs"] = [{"targets": [alertmanager]}]
    [job] = doc["scrape_configs"]
    job["static_configs"] = [{"targets": exporters}]
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class ShippedStack:
    workdir: Path
    loop: live.LoopThread
    cloudtrax: CloudTraxSimulator
    sites: dict[int, list[SimStrip]]
    dli: dict[str, DliSimulator]
    exporters: dict[str, ExporterProcess]
    configs: dict[str, str]
    token: str
    webhook: live.WebhookReceiver
    prometheus_process: live.ChildProcess
    alertmanager_process: live.ChildProcess
    prometheus: live.Prometheus
    alertmanager: live.Alertmanager
    job: str

    def instance(self, exporter: str) -> str:
        return f"127.0.0.1:{self.exporters[exporter].port}"

    def diagnostics(self) -> str:
        parts = [
            f"--- prometheus log ---\n{self.prometheus_process.logs(2000)}",
            f"--- alertmanager log ---\n{self.alertmanager_process.logs(2000)}",
            *(f"--- exporter {name} log ---\n{e.logs()[-1500:]}" for name, e in self.exporters.items()),
        ]
        return "\n".join(parts)

    def expected_targets(self) -> dict[str, set[tuple[str, str]]]:
        return {
            "main": {("cloudtrax", str(n)) for n in self.sites} | {("dli", name) for name in self.dli},
            "ops": {("dli", "ops-dli-230")},
            "victim": {("dli", "victim-dli-230")},
        }

    def wait_ready(self) -> None:
        """Every exporter scraped by Prometheus with every target up: the fleet is in and healthy."""
        for url in (self.alertmanager.url, self.prometheus.url):
            live.wait_until(lambda u=url: live.reachable(f"{u}/-/ready"), timeout=30, what=f"{url}/-/ready")
        expected = {(self.instance(n), s, t) for n, targets in self.expected_targets().items() for s, t in targets}

        def all_up() -> bool:
            self.prometheus_process.check_running()
            up = {
                (r["metric"]["instance"], r["metric"]["source"], r["metric"]["target"])
                for r in self.prometheus.query(f'powerstrip_exporter_target_up{{job="{self.job}"}} == 1')
            }
            return expected <= up

        # A scrape every 30 s: the first one of each exporter comes within a minute.
        live.wait_until(
            all_up, timeout=150, interval=2, what="every target up in Prometheus", diagnostics=self.diagnostics
        )

    def exporter_up(self, name: str) -> bool:
        try:
            text = self.loop.run(self.exporters[name].metrics_text())
        except OSError:
            return False
        return bool(parse_metrics(text))

    def reload(self, name: str, config: str | None = None) -> bool:
        """Write `config` (default: the exporter's own) and reload it with SIGHUP, as an operator does
        without `--web.enable-lifecycle`; whether the reload succeeded, once the exporter has said so."""
        exporter = self.exporters[name]
        exporter.config_path.write_text(config if config is not None else self.configs[name], encoding="utf-8")
        answered_before = _reload_answers(exporter.logs())
        exporter.signal(signal.SIGHUP)

        async def answered() -> bool:
            return _reload_answers(exporter.logs()) > answered_before

        self.loop.run(exporter.wait_for(answered, timeout=30, what=f"{name} to answer the SIGHUP"))
        samples = parse_metrics(self.loop.run(exporter.metrics_text()))
        return samples[("powerstrip_exporter_config_last_reload_successful", frozenset())] == 1.0

    def restart(self, name: str) -> None:
        """Start a stopped exporter again, on the same port (so Prometheus scrapes the same instance)."""
        self.loop.run(self.exporters[name].__aenter__(), timeout=40)


def operator_token(token: str) -> str:
    """The token an operator closes the remediation breaker with (the documented fix)."""
    return f"{token}-operator"


def _reload_answers(logs: str) -> int:
    return logs.count('msg="config reloaded"') + logs.count('msg="reload failed')


def exporter_configs(
    cloudtrax: CloudTraxSimulator, dli: dict[str, DliSimulator], token: str
) -> dict[str, dict[str, Any]]:
    def dli_entry(name: str, sim: DliSimulator) -> dict[str, Any]:
        return {"source": "dli", "name": name, "url": sim.url, "username": sim.username, "password": sim.password}

    cloudtrax_entry = {
        "source": "cloudtrax",
        "name": "e2e-cloudtrax",
        "key": cloudtrax.key,
        "secret": cloudtrax.secret,
        "base_url": cloudtrax.url,
        "networks": "all",
        "usage_interval": "10s",
        "settings_interval": "10s",
        "discovery_interval": "10s",
    }
    main = {
        "global": EXPORTER_GLOBAL,
        "targets": [cloudtrax_entry, *(dli_entry(name, sim) for name, sim in dli.items())],
        "actions": {
            "tokens": [
                {
                    "name": "alertmanager",
                    "token": token,
                    "allow": [{"actions": ["dli.outlet_cycle"], "targets": ["*"]}],
                },
                {
                    "name": "operator",
                    "token": operator_token(token),
                    "allow": [{"actions": ["remediation.breaker_close"], "targets": [REMEDIATION_RULE]}],
                },
            ]
        },
        "remediation": {
            "token": "alertmanager",
            "rules": [
                {
                    "name": REMEDIATION_RULE,
                    "matchers": ['alertname="E2EHostUnreachable"'],
                    "action": "dli.outlet_cycle",
                    "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
                    "dry_run": True,
                    "min_firing": "1s",
                    "budget_per_hour": 1,
                }
            ],
        },
    }
    return {
        "main": main,
        "ops": {"global": EXPORTER_GLOBAL, "targets": [dli_entry("ops-dli-230", dli["dli-230"])]},
        "victim": {"global": EXPORTER_GLOBAL, "targets": [dli_entry("victim-dli-230", dli["dli-230"])]},
    }


@contextlib.contextmanager
def shipped_stack(workdir: Path) -> Iterator[ShippedStack]:
    prometheus_bin = opslib.find_binary("prometheus")
    alertmanager_bin = opslib.find_binary("prometheus-alertmanager")
    assert prometheus_bin and alertmanager_bin, opslib.INSTALL_HINT
    with contextlib.ExitStack() as cleanup:  # callbacks run in reverse order, each even if another fails
        loop = live.LoopThread().start()
        cleanup.callback(loop.stop)

        cloudtrax = CloudTraxSimulator(host="127.0.0.1")
        sites = {SITE_120: healthy_strips(cloudtrax, SITE_120, "120", STRIPS_PER_SITE)}
        sites[SITE_230] = healthy_strips(cloudtrax, SITE_230, "230", STRIPS_PER_SITE)
        loop.run(cloudtrax.start())
        cleanup.callback(lambda: loop.run(cloudtrax.stop()))
        dli = {
            name: DliSimulator(model, host="127.0.0.1", drift=True, cycle_delay=3.0, mains=MAINS[mains])
            for name, (model, mains) in DLI_UNITS.items()
        }
        for sim in dli.values():
            loop.run(sim.start())
            cleanup.callback(lambda s=sim: loop.run(s.stop()))

        webhook = loop.run(live.WebhookReceiver().start())
        cleanup.callback(lambda: loop.run(webhook.stop()))
        alertmanager_process, alertmanager = live.start_alertmanager(
            cleanup, alertmanager_bin, workdir / "alertmanager", alertmanager_config(webhook.url)
        )

        token = secrets.token_hex(16)
        configs = {
            name: yaml.safe_dump(doc, sort_keys=False) for name, doc in exporter_configs(cloudtrax, dli, token).items()
        }
        env = live.CHECKOUT_ENV
        exporters = {}
        for name, text in configs.items():
            directory = workdir / f"exporter-{name}"
            directory.mkdir()
            exporter = ExporterProcess(directory, text, env=env)
            cleanup.callback(lambda e=exporter: loop.run(e.stop()))
            loop.run(exporter.__aenter__(), timeout=40)
            exporters[name] = exporter

        addresses = [f"127.0.0.1:{e.port}" for e in exporters.values()]
        config = prometheus_config(addresses, alertmanager.url.removeprefix("http://"))
        prometheus_process, prometheus = live.start_prometheus(cleanup, prometheus_bin, workdir / "prometheus", config)
        [job] = opslib.load_yaml(opslib.PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]
        stack = ShippedStack(
            workdir=workdir,
            loop=loop,
            cloudtrax=cloudtrax,
            sites=sites,
            dli=dli,
            exporters=exporters,
            configs=configs,
            token=token,
            webhook=webhook,
            prometheus_process=prometheus_process,
            alertmanager_process=alertmanager_process,
            prometheus=prometheus,
            alertmanager=alertmanager,
            job=str(job["job_name"]),
        )
        started = time.monotonic()
        stack.wait_ready()
        print(f"shipped-intervals stack ready {time.monotonic() - started:.0f}s after starting prometheus; {workdir}")
        yield stack
