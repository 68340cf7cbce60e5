"""`CloudTraxSource`: one target group per account key, one target per network; the targets do the I/O."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import ClassVar

from exporter.config.types import TargetEntry
from exporter.metrics.spec import MetricSpec, SampleSet
from exporter.sources.action_api import ActionSpec
from exporter.sources.api import Component, PollSettings, Source, SourceContext, Target, TargetGroup
from exporter.sources.cloudtrax.client import CloudTraxClient, UsagePeriod
from exporter.sources.cloudtrax.collector import build_samples
from exporter.sources.cloudtrax.config import CloudTraxEntry
from exporter.sources.cloudtrax.endpoints import ALL_ENDPOINTS
from exporter.sources.cloudtrax.energy import EnergyLedger
from exporter.sources.cloudtrax.energy_store import EnergyStore, shared_store
from exporter.sources.cloudtrax.errors import CloudTraxNotFoundError
from exporter.sources.cloudtrax.gather import gather_or_fail
from exporter.sources.cloudtrax.inventory import NetworkInventory, network_inventory
from exporter.sources.cloudtrax.metrics import ALL_METRICS
from exporter.sources.cloudtrax.models import FirmwareVersion, NetworkSettings, PowerStrip, UsageSample


class NetworkTarget(Target):
    """One CloudTrax network; its `name` (the `target` label) is the network id.

    A poll makes the calls (`collector.build_samples` turns their answers into samples):
    one list for the network, one get per listed strip; usage per strip only once
    `usage_interval` has passed for it, and settings plus firmware versions only once
    `settings_interval` has passed. Results of the slower reads are cached and re-emitted
    in every snapshot. No object is requested twice in a cycle. Usage reads start with the
    second poll: the first, after a start or a reload, puts every strip on /metrics in half the
    calls (the energy counters, which begin at a strip's first usage read, one poll later).
    """

    def __init__(
        self,
        network_id: int,
        settings: PollSettings,
        shared_client: Callable[[], CloudTraxClient],
        *,
        usage_interval: float,
        usage_period: UsagePeriod,
        settings_interval: float,
        energy: EnergyStore,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int | None = None,
    ) -> None:
        super().__init__(str(network_id), settings)
        self.network_id = network_id
        self.concurrency = concurrency
        """Calls in flight at once (the source's request slots; None: all)."""
        self._shared_client = shared_client
        self.usage_interval = usage_interval
        self.usage_period: UsagePeriod = usage_period
        self.settings_interval = settings_interval
        self.energy = energy
        self._clock = clock
        self._usage_due: dict[int, float] = {}
        self._settings: NetworkSettings | None = None
        self._settings_due = 0.0
        self._firmware: list[FirmwareVersion] | None = None
        self._firmware_due = 0.0
        self.inventory: NetworkInventory | None = None
        """The strips and ports of the last successful poll, for actions (None before one)."""

    @property
    def client(self) -> CloudTraxClient:
        """The entry's shared signed client, for actions on this network's strips."""
        return self._shared_client()

    def components(self) -> Sequence[Component]:
        return self.inventory.components if self.inventory is not None else ()

    async def poll(self) -> SampleSet:
        client = self.client
        listed = await client.list_powerstrips(self.network_id)
        strips = list({s.powerstrip_id: s for s in listed}.values())
        now = self._clock()
        present = {s.powerstrip_id for s in strips}
        for gone in set(self._usage_due) - present:
            del self._usage_due[gone]

        details: dict[int, PowerStrip | None] = {}
        # Energy is counted, and shown, only for the ports each strip's get lists: a usage answer
        # cannot add ports to the ledger, and a state file from before cannot add them to the page.
        ports: dict[int, set[str]] = {}
        """The port ids of each strip read, as the usage API keys them."""
        ledger = self.energy.ledger
        early: dict[int, list[UsageSample]] = {}
        """Usage answers whose strip's get has not arrived yet."""

        def integrate(strip_id: int, usage_samples: list[UsageSample]) -> None:
            own = ports[strip_id]
            ledger.integrate(self.network_id, strip_id, usage_samples, clock_offset=client.clock_offset, ports=own)
            self._usage_due[strip_id] = self._clock() + self.usage_interval

        async def get(strip_id: int) -> None:
            try:
                detail = details[strip_id] = await client.get_powerstrip(strip_id)
            except CloudTraxNotFoundError:
                details[strip_id] = None  # deleted between list and get: drop it from this snapshot
                early.pop(strip_id, None)
                return
            ports[strip_id] = {str(p.port_id) for p in detail.ports}
            if strip_id in early:
                integrate(strip_id, early.pop(strip_id))

        async def usage(strip_id: int) -> None:
            # Counted as it arrives, not after the whole cycle: a network's usage answers (hundreds of
            # objects a strip) are never all alive at once, so they set no memory high-water mark.
            try:
                usage_samples = await client.get_usage(strip_id, self.usage_period)
            except CloudTraxNotFoundError:
                return
            if strip_id in ports:
                integrate(strip_id, usage_samples)
            elif strip_id not in details:
                early[strip_id] = usage_samples

        async def settings() -> None:
            self._settings = await client.get_network_settings(self.network_id)
            self._settings_due = self._clock() + self.settings_interval

        async def firmware() -> None:
            self._firmware = await client.list_firmware_versions(self.network_id)
            self._firmware_due = self._clock() + self.settings_interval

        calls: list[Callable[[], Awaitable[None]]] = [partial(get, s.powerstrip_id) for s in strips]
        if self.inventory is not None:  # not the first poll (see the class docstring)
            calls += [
                partial(usage, s.powerstrip_id) for s in strips if self._usage_due.get(s.powerstrip_id, 0.0) <= now
            ]
        if self._settings is None or self._settings_due <= now:
            calls.append(settings)
        if self._firmware is None or self._firmware_due <= now:
            calls.append(firmware)
        try:
            await gather_or_fail(calls, self.concurrency)
        finally:
            self.energy.request_save()  # what was counted before a failure is kept too

        kept = [s for s in strips if details.get(s.powerstrip_id) is not None]
        read = {sid: d for sid, d in details.items() if d is not None}
        energy = {}
        for strip in kept:
            own = ports[strip.powerstrip_id]
            energy[strip.powerstrip_id] = {
                port: j for port, j in ledger.joules(self.network_id, strip.powerstrip_id).items() if port in own
            }
        samples = build_samples(
            self.network_id,
            kept,
            read,
            energy,
            self._settings,
            self._firmware,
            ledger.rejected(self.network_id),
        )
        self.inventory = network_inventory(kept, read)
        return samples


class CloudTraxGroup(TargetGroup):
    """The networks of one key. `networks: all` rediscovers them via `GET /network/list`.

    All targets share one client (one session), opened on first use and closed
    in `aclose()` after the engine has stopped the targets.
    """

    entry: CloudTraxEntry

    def __init__(
        self,
        entry: CloudTraxEntry,
        settings: PollSettings,
        ctx: SourceContext,
        *,
        ledger: EnergyLedger | None = None,
        energy: EnergyStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`energy` defaults to the process-wide store for `ctx.storage`; `ledger` (tests) to an unsaved one."""
        super().__init__(entry)
        self.entry = entry
        self.settings = settings
        self.ctx = ctx
        if energy is None:
            energy = shared_store(ctx.storage) if ledger is None else EnergyStore(ledger)
        self.energy = energy
        self._clock = clock
        self._client: CloudTraxClient | None = None
        self._targets: dict[int, NetworkTarget] = {}
        if entry.networks == "all":
            self.rediscover_interval = entry.discovery_interval

    @property
    def client(self) -> CloudTraxClient:
        """The entry's client, built on first use (building does no network I/O)."""
        if self._client is None:
            ssl_context: ssl.SSLContext | bool = True
            if self.entry.insecure_skip_verify:
                ssl_context = False
            elif self.entry.ca_file is not None:
                ssl_context = ssl.create_default_context(cafile=self.entry.ca_file)
            self._client = CloudTraxClient(
                self.entry.key.reveal(),
                self.entry.credential().reveal(),
                base_url=self.entry.base_url,
                timeout=self.settings.timeout,
                request_slot=self.ctx.request,
                ssl_context=ssl_context,
                max_items=self.settings.max_items_per_answer,
            )
        return self._client

    def _target(self, network_id: int) -> NetworkTarget:
        target = self._targets.get(network_id)
        if target is None:
            target = NetworkTarget(
                network_id,
                self.settings,
                lambda: self.client,
                usage_interval=self.entry.usage_interval,
                usage_period=self.entry.usage_period,
                settings_interval=self.entry.settings_interval,
                energy=self.energy,
                clock=self._clock,
                concurrency=self.ctx.max_concurrent_requests,
            )
            self._targets[network_id] = target
        return target

    async def discover(self) -> Sequence[Target]:
        if self.entry.networks == "all":
            ids = [n.id for n in await self.client.list_networks() if n.id > 0]
        else:
            ids = list(self.entry.networks)
        for gone in set(self._targets) - set(ids):
            del self._targets[gone]
        return [self._target(i) for i in dict.fromkeys(ids)]

    async def aclose(self) -> None:
        await self.energy.flush()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class CloudTraxSource(Source):
    """Open Mesh / Datto CloudTrax power strips through the signed CloudTrax API."""

    name: ClassVar[str] = "cloudtrax"
    metrics: ClassVar[tuple[MetricSpec, ...]] = ALL_METRICS
    api_endpoints: ClassVar[tuple[str, ...]] = ALL_ENDPOINTS
    entry_model: ClassVar[type[TargetEntry]] = CloudTraxEntry
    default_max_concurrent_requests: ClassVar[int] = 32

    @classmethod
    def build_group(cls, entry: TargetEntry, defaults: PollSettings, ctx: SourceContext) -> TargetGroup:
        if not isinstance(entry, CloudTraxEntry):
            raise TypeError(f"expected a CloudTraxEntry, got {type(entry).__name__}")
        return CloudTraxGroup(entry, defaults, ctx)

    @classmethod
    def actions(cls) -> Sequence[ActionSpec]:
        from exporter.sources.cloudtrax.actions import ACTIONS

        return ACTIONS
