"""A comparison exporter: a scrape-time exporter built the usual way.

It reads the same config file and fetches the same data with the project's own
API clients, on the same schedule and with the same request limits, but it keeps
the raw API objects and turns them into metric families at every scrape: a
prometheus_client custom collector builds `GaugeMetricFamily`/`CounterMetricFamily`
objects from the raw data and `start_http_server` serves them through
`generate_latest` (gzip compressed per scrape when asked, as prometheus_client does).

The samples are the same as the exporter's (the same pure `build_samples`
functions turn raw data into values), so the two bodies hold the same device series.

    python -m bench.baseline --config.file config.yml --web.listen-address 127.0.0.1:9796
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config.loader import Config, load_config
from exporter.config.model import effective_settings
from exporter.metrics.spec import MetricSpec, SampleSet
from exporter.sources.api import SourceContext
from exporter.sources.cloudtrax import metrics as ct_metrics
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.collector import build_samples as ct_build_samples
from exporter.sources.cloudtrax.config import CloudTraxEntry
from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.errors import CloudTraxNotFoundError
from exporter.sources.cloudtrax.models import FirmwareVersion, NetworkSettings, PowerStrip, PowerStripSummary
from exporter.sources.dli import metrics as dli_metrics
from exporter.sources.dli.client import ClientSettings, DliClient
from exporter.sources.dli.collector import PollData
from exporter.sources.dli.collector import build_samples as dli_build_samples
from exporter.sources.dli.config import DliEntry
from exporter.sources.dli.models import Identity
from exporter.sources.registry import load_sources


@dataclass
class NetworkData:
    """Raw API objects of one network, replaced as a whole after each poll."""

    strips: list[PowerStripSummary] = field(default_factory=list)
    details: dict[int, PowerStrip] = field(default_factory=dict)
    settings: NetworkSettings | None = None
    firmware: list[FirmwareVersion] | None = None


@dataclass(frozen=True)
class Status:
    polls: int = 0
    up: bool = False
    last_success: float | None = None
    last_duration: float | None = None


class Fleet:
    """Everything the poller fetched; the scrape thread reads it, the poll loop replaces it."""

    def __init__(self) -> None:
        self.networks: dict[int, NetworkData] = {}
        self.dli: dict[str, tuple[DliEntry, PollData]] = {}
        self.status: dict[tuple[str, str], Status] = {}
        self.ledger = EnergyLedger()

    def set_network(self, network_id: int, data: NetworkData) -> None:
        self.networks[network_id] = data

    def set_dli(self, entry: DliEntry, poll: PollData) -> None:
        self.dli[entry.name] = (entry, poll)

    def set_status(self, key: tuple[str, str], status: Status) -> None:
        self.status[key] = status


def _family(spec: MetricSpec) -> Metric:
    name = spec.name.removesuffix("_total")
    if spec.type == "counter":
        return CounterMetricFamily(name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(name, spec.help, labels=spec.labels)


class FleetCollector(Collector):
    """Builds every device family from the raw API data, at every scrape."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.specs = (*ct_metrics.ALL_METRICS, *dli_metrics.ALL_METRICS)

    def describe(self) -> Iterator[Metric]:
        for spec in self.specs:
            yield _family(spec)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}

        def add(samples: SampleSet) -> None:
            for fam in samples.families:
                metric = families.get(fam.spec.name)
                if metric is None:
                    metric = families[fam.spec.name] = _family(fam.spec)
                for labels, value in fam.samples:
                    metric.add_metric(list(labels), value)  # type: ignore[attr-defined]

        fleet = self.fleet
        for network_id, data in list(fleet.networks.items()):
            energy = {s.powerstrip_id: fleet.ledger.joules(network_id, s.powerstrip_id) for s in data.strips}
            add(
                ct_build_samples(
                    network_id,
                    data.strips,
                    data.details,
                    energy,
                    data.settings,
                    data.firmware,
                    fleet.ledger.rejected(network_id),
                )
            )
        for name, (entry, poll) in list(fleet.dli.items()):
            add(dli_build_samples(name, poll, aliases=entry.aliases(), humidity_unit=entry.humidity_unit))
        yield from families.values()


class StatusCollector(Collector):
    """Per-target poll status under the exporter's own self-metric names."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def _families(self) -> tuple[Metric, Metric, Metric, Metric]:
        labels = ["source", "target"]
        return (
            GaugeMetricFamily("powerstrip_exporter_target_up", "1 if the last poll succeeded.", labels=labels),
            CounterMetricFamily("powerstrip_exporter_target_polls", "Poll attempts.", labels=labels),
            GaugeMetricFamily(
                "powerstrip_exporter_target_last_success_timestamp_seconds", "Last success.", labels=labels
            ),
            GaugeMetricFamily("powerstrip_exporter_target_poll_duration_seconds", "Last poll.", labels=labels),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        up, polls, last, duration = self._families()
        for (source, target), st in list(self.fleet.status.items()):
            labels = [source, target]
            up.add_metric(labels, 1.0 if st.up else 0.0)  # type: ignore[attr-defined]
            polls.add_metric(labels, float(st.polls))  # type: ignore[attr-defined]
            if st.last_success is not None:
                last.add_metric(labels, st.last_success)  # type: ignore[attr-defined]
            if st.last_duration is not None:
                duration.add_metric(labels, st.last_duration)  # type: ignore[attr-defined]
        yield from (up, polls, last, duration)


class Poller:
    """Fetches raw data on the exporter's schedule: one list and one get per strip per cycle, usage,
    settings and firmware on their slower intervals, and the same DLI reads."""

    def __init__(self, config: Config, fleet: Fleet) -> None:
        self.config = config
        self.fleet = fleet
        ct = config.sources.get("cloudtrax")
        dli = config.sources.get("dli")
        self.ct_ctx = SourceContext("cloudtrax", (ct.max_concurrent_requests if ct else None) or 32)
        self.dli_ctx = SourceContext("dli", (dli.max_concurrent_requests if dli else None) or 16)
        self.clients: list[CloudTraxClient | DliClient] = []

    async def run(self) -> None:
        tasks = []
        for entry in self.config.entries:
            settings = effective_settings(entry, self.config.global_)
            if isinstance(entry, CloudTraxEntry):
                client = CloudTraxClient(
                    entry.key.reveal(),
                    entry.credential().reveal(),
                    base_url=entry.base_url,
                    timeout=settings.timeout,
                    request_slot=self.ct_ctx.request,
                )
                self.clients.append(client)
                networks = entry.networks
                if networks == "all":
                    networks = tuple(n.id for n in await client.list_networks() if n.id > 0)
                for nid in networks:
                    poll = self._network(entry, client, nid)
                    tasks.append(self._loop(("cloudtrax", str(nid)), settings.interval, poll))
            elif isinstance(entry, DliEntry):
                dclient = DliClient(
                    ClientSettings(
                        url=entry.url,
                        username=entry.username,
                        password=entry.credential().reveal(),
                        auth=entry.auth,
                        ca_file=entry.ca_file,
                        insecure_skip_verify=entry.insecure_skip_verify,
                        timeout=settings.timeout,
                    ),
                    self.dli_ctx,
                )
                self.clients.append(dclient)
                tasks.append(self._loop(("dli", entry.name), settings.interval, self._device(entry, dclient)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for c in self.clients:
                with contextlib.suppress(Exception):
                    await c.aclose()

    async def _loop(self, key: tuple[str, str], interval: float, poll: Any) -> None:
        status = self.fleet.status.setdefault(key, Status())
        while True:
            start = time.monotonic()
            last_success: float | None
            try:
                await poll()
                up, last_success = True, time.time()
            except Exception:
                up, last_success = False, status.last_success
            # A new Status swapped in whole: the scrape thread never pairs one poll's count with another's times.
            status = Status(status.polls + 1, up, last_success, time.monotonic() - start)
            self.fleet.set_status(key, status)
            await asyncio.sleep(max(0.0, start + interval - time.monotonic()))

    def _network(self, entry: CloudTraxEntry, client: CloudTraxClient, nid: int) -> Any:
        usage_due: dict[int, float] = {}
        slow_due = [0.0]
        data = NetworkData()
        ledger = self.fleet.ledger

        async def poll() -> None:
            nonlocal data
            strips = await client.list_powerstrips(nid)
            now = time.monotonic()
            details: dict[int, PowerStrip] = {}

            async def get(sid: int) -> None:
                with contextlib.suppress(CloudTraxNotFoundError):
                    details[sid] = await client.get_powerstrip(sid)

            async def usage(sid: int) -> None:
                with contextlib.suppress(CloudTraxNotFoundError):
                    ledger.integrate(nid, sid, await client.get_usage(sid, entry.usage_period))
                    usage_due[sid] = time.monotonic() + entry.usage_interval

            calls = [get(s.powerstrip_id) for s in strips]
            calls += [usage(s.powerstrip_id) for s in strips if usage_due.get(s.powerstrip_id, 0.0) <= now]
            settings, firmware = data.settings, data.firmware
            if slow_due[0] <= now:
                settings_task = asyncio.ensure_future(client.get_network_settings(nid))
                firmware_task = asyncio.ensure_future(client.list_firmware_versions(nid))
                await asyncio.gather(*calls, settings_task, firmware_task)
                settings, firmware = settings_task.result(), firmware_task.result()
                slow_due[0] = time.monotonic() + entry.settings_interval
            else:
                await asyncio.gather(*calls)
            kept = [s for s in strips if s.powerstrip_id in details]
            data = NetworkData(kept, details, settings, firmware)
            self.fleet.set_network(nid, data)

        return poll

    def _device(self, entry: DliEntry, client: DliClient) -> Any:
        identity: list[Identity | None] = [None]
        due = [float("-inf")]

        async def poll() -> None:
            outlets = await client.outlets()
            meters = await client.meters()
            threads = await client.script_threads()
            now = time.monotonic()
            if identity[0] is None or now >= due[0]:
                identity[0] = await client.identity()
                due[0] = now + entry.identity_interval
            self.fleet.set_dli(entry, PollData(outlets, meters, identity[0], threads))

        return poll


def parse_args(argv: list[str] | None, prog: str, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config.file", dest="config_file", required=True)
    parser.add_argument("--web.listen-address", dest="listen", default="127.0.0.1:9796")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, "python -m bench.baseline", __doc__.splitlines()[0])
    fleet = Fleet()
    registry = CollectorRegistry()
    registry.register(StatusCollector(fleet))
    registry.register(FleetCollector(fleet))
    serve(args, fleet, registry)


def serve(args: argparse.Namespace, fleet: Fleet, registry: CollectorRegistry) -> None:
    """Poll in the background into `fleet`; serve `registry` with prometheus_client until SIGTERM."""
    config = load_config(args.config_file, load_sources())
    host, _, port = args.listen.rpartition(":")
    server, thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        poller = asyncio.create_task(Poller(config, fleet).run())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([poller, waiter], return_when=asyncio.FIRST_COMPLETED)
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)

    try:
        asyncio.run(run())
    finally:
        threading.Thread(target=server.shutdown, daemon=True).start()
        server.server_close()
        thread.join(timeout=2)


if __name__ == "__main__":
    main()
