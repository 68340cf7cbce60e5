"""The live end-to-end stack, started once per test session.

    CloudTrax + DLI simulators (demo fleet) --poll 1s--> real exporter process
        <--scrape 1s-- real prometheus (shipped rules, `for:` shortened)
        --alerts--> real prometheus-alertmanager (shipped routing, loopback webhooks)
        --notify--> webhook receiver (in-process)

The simulators, the webhook receiver and the exporter helper run on an asyncio
loop in a background thread; the tests are plain synchronous functions. Every
server listens on 127.0.0.1. Prometheus and Alertmanager are started once per
session because Prometheus' service discovery takes about 5 s before the first
scrape. Every process is stopped by its PID at the end, and the thread joined.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from powerstrip_sim.cloudtrax import demo as cloudtrax_demo
from powerstrip_sim.dli import demo as dli_demo
from tests.e2e import live
from tests.ops import opslib
from tests.support.process import ExporterProcess

SCRAPE_INTERVAL = "1s"
POLL_INTERVAL = "1s"
FAST_FOR = "1s"
"""Every alert's `for:` in the live copy of alerts.yml; expressions, labels and annotations stay as shipped."""


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """With -v, list every dashboard query the live test ran (in this process: without xdist workers).

    The full list is always in the run's e2e-dashboard-queries.txt."""
    if live.QUERY_LOG and config.get_verbosity() > 0:
        terminalreporter.section("live e2e: dashboard queries run through the Prometheus HTTP API")
        for line in live.QUERY_LOG:
            terminalreporter.write_line(line)
    if live.ALERT_TIMINGS:
        terminalreporter.section("live e2e: time to page and to resolve with the shipped intervals")
        for line in live.ALERT_TIMINGS:
            terminalreporter.write_line(line)


def exporter_config(cloudtrax: cloudtrax_demo.CloudTraxDemo, dli: dli_demo.DliDemoFleet) -> str:
    """The demo fleet's entries, polled every second."""
    fast_cloudtrax = {
        "interval": POLL_INTERVAL,
        "usage_interval": "2s",
        "settings_interval": "2s",
        "discovery_interval": "2s",
    }
    fast_dli = {"interval": POLL_INTERVAL, "timeout": POLL_INTERVAL}
    targets = [{**e, **fast_cloudtrax} for e in cloudtrax.entries] + [{**e, **fast_dli} for e in dli.entries]
    config = {
        "global": {
            "interval": POLL_INTERVAL,
            "timeout": POLL_INTERVAL,
            "stale_after": "1m",
            "backoff_max": "2s",
            "jitter": 0.0,
        },
        "targets": targets,
        # A dry-run remediation rule, so the dashboard's Remediation row has series (it never acts: the
        # shipped Alertmanager config does not notify the exporter).
        "actions": {
            "tokens": [
                {
                    "name": "alertmanager",
                    "token": "e2e-remediation-token-unused",
                    "allow": [{"actions": ["dli.outlet_cycle"], "targets": ["*"]}],
                }
            ]
        },
        "remediation": {
            "token": "alertmanager",
            "rules": [
                {
                    "name": "dashboard-demo",
                    "matchers": ['alertname="HostProbeFailing"'],
                    "action": "dli.outlet_cycle",
                    "params": {"device": "{{ .Labels.pdu }}", "outlet": "{{ .Labels.outlet }}"},
                }
            ],
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(webhook_url: str) -> str:
    """The shipped alertmanager.yml (routes, matchers, inhibit rules) with loopback webhooks and 0s/1s timers."""
    doc = opslib.load_yaml(opslib.PROMETHEUS_DIR / "alertmanager.yml")
    for receiver in doc["receivers"]:
        configs = receiver.get("webhook_configs")
        assert configs, f"shipped receiver {receiver['name']} has no webhook: the live test cannot observe it"
        for hook in configs:
            hook["url"] = webhook_url + urllib.parse.urlsplit(hook["url"]).path

    def fast(route: dict[str, Any], root: bool) -> None:
        if root or "group_wait" in route:
            route["group_wait"] = "0s"
        if root or "group_interval" in route:
            route["group_interval"] = "1s"
        for child in route.get("routes", []):
            fast(child, root=False)

    fast(doc["route"], root=True)
    return yaml.safe_dump(doc, sort_keys=False)


def prometheus_config(exporter_address: str, alertmanager_address: str, rule_files: list[Path]) -> tuple[str, str]:
    """The shipped prometheus.yml pointed at our processes, scraping and evaluating every second.

    Returns the config text and the shipped scrape job's name.
    """
    doc = opslib.load_yaml(opslib.PROMETHEUS_DIR / "prometheus.yml")
    shipped_rules = [Path(p).name for p in doc["rule_files"]]
    assert sorted(shipped_rules) == sorted(p.name for p in rule_files), shipped_rules
    doc["rule_files"] = [str(p) for p in rule_files]
    doc["global"] = {
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_INTERVAL,
        "evaluation_interval": SCRAPE_INTERVAL,
    }
    [alerting] = doc["alerting"]["alertmanagers"]
    alerting["static_configs"] = [{"targets": [alertmanager_address]}]
    [job] = doc["scrape_configs"]
    job["scrape_interval"] = SCRAPE_INTERVAL
    job["scrape_timeout"] = SCRAPE_INTERVAL
    job["static_configs"] = [{"targets": [exporter_address]}]
    return yaml.safe_dump(doc, sort_keys=False), str(job["job_name"])


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.Stack]:
    prometheus_bin = opslib.require_binary("prometheus")
    alertmanager_bin = opslib.require_binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("e2e")
    with contextlib.ExitStack() as cleanup:  # callbacks run in reverse order, each even if another fails
        loop = live.LoopThread().start()
        cleanup.callback(loop.stop)

        cloudtrax = loop.run(cloudtrax_demo.start_demo("127.0.0.1"))
        cleanup.callback(lambda: loop.run(cloudtrax.aclose()))
        dli = loop.run(dli_demo.start_demo("127.0.0.1"))
        cleanup.callback(lambda: loop.run(dli.aclose()))
        dli_sims = {str(e["name"]): sim for e, sim in zip(dli.entries, dli.simulators, strict=True)}

        webhook = loop.run(live.WebhookReceiver().start())
        cleanup.callback(lambda: loop.run(webhook.stop()))

        alertmanager_process, alertmanager = live.start_alertmanager(
            cleanup, alertmanager_bin, workdir / "alertmanager", alertmanager_config(webhook.url)
        )

        exporter_dir = workdir / "exporter"
        exporter_dir.mkdir()
        exporter = ExporterProcess(
            exporter_dir,
            exporter_config(cloudtrax, dli),
            args=["--storage.path", str(exporter_dir / "state")],  # as deployed: the state files are on the dashboard
            env=live.CHECKOUT_ENV,
        )
        cleanup.callback(lambda: loop.run(exporter.stop()))
        loop.run(exporter.__aenter__(), timeout=40)

        prom_dir = workdir / "prometheus"
        rule_files = opslib.write_fast_rules(prom_dir, FAST_FOR)
        am_address = alertmanager.url.removeprefix("http://")
        config_text, job = prometheus_config(f"127.0.0.1:{exporter.port}", am_address, rule_files)
        started = time.time()
        prometheus_process, prometheus = live.start_prometheus(cleanup, prometheus_bin, prom_dir, config_text)

        stack = live.Stack(
            workdir=workdir,
            loop=loop,
            cloudtrax=cloudtrax.simulator,
            dli=dli_sims,
            exporter=exporter,
            webhook=webhook,
            alertmanager_process=alertmanager_process,
            prometheus_process=prometheus_process,
            prometheus=prometheus,
            alertmanager=alertmanager,
            job=job,
            started_at=started,
        )
        stack.wait_ready()
        print(f"live e2e stack ready {time.time() - started:.1f}s after starting prometheus; files in {workdir}")
        yield stack

    # Everything we started is gone, and went cleanly (exit 0 on SIGTERM).
    exits = {
        "prometheus": prometheus_process.proc.poll() if prometheus_process.proc else None,
        "prometheus-alertmanager": alertmanager_process.proc.poll() if alertmanager_process.proc else None,
        "exporter": exporter.proc.poll() if exporter.proc else None,
    }
    assert exits == dict.fromkeys(exits, 0), f"exit codes after SIGTERM: {exits}; logs in {workdir}"
    assert not loop.thread.is_alive(), "the simulator thread did not stop"
