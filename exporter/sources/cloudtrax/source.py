"""`CloudTraxSource`: one target group per account key, one target per network."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from exporter.config.types import TargetEntry
from exporter.metrics.spec import MetricSpec, SampleSet
from exporter.sources.action_api import ActionSpec
from exporter.sources.api import PollSettings, Source, SourceContext, Target, TargetGroup
from exporter.sources.cloudtrax.client import CloudTraxClient
from exporter.sources.cloudtrax.collector import NetworkCollector
from exporter.sources.cloudtrax.config import CloudTraxEntry
from exporter.sources.cloudtrax.endpoints import ALL_ENDPOINTS
from exporter.sources.cloudtrax.energy import DEFAULT_LEDGER, EnergyLedger
from exporter.sources.cloudtrax.inventory import NetworkInventory
from exporter.sources.cloudtrax.metrics import ALL_METRICS


class NetworkTarget(Target):
    """One CloudTrax network; its `name` (the `target` label) is the network id."""

    def __init__(
        self,
        network_id: int,
        settings: PollSettings,
        collector: NetworkCollector,
        client: Callable[[], CloudTraxClient],
    ) -> None:
        super().__init__(str(network_id), settings)
        self.network_id = network_id
        self.collector = collector
        self._client = client

    def client(self) -> CloudTraxClient:
        """The entry's shared signed client, for actions on this network's strips."""
        return self._client()

    @property
    def inventory(self) -> NetworkInventory | None:
        """The strips and ports of the last successful poll (None before one)."""
        return self.collector.inventory

    async def poll(self) -> SampleSet:
        return await self.collector.collect()


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
        ledger: EnergyLedger = DEFAULT_LEDGER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(entry)
        self.entry = entry
        self.settings = settings
        self.ctx = ctx
        self.ledger = ledger
        self._clock = clock
        self._client: CloudTraxClient | None = None
        self._targets: dict[int, NetworkTarget] = {}
        if entry.networks == "all":
            self.rediscover_interval = entry.discovery_interval

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
            collector = NetworkCollector(
                network_id,
                self.client,
                usage_interval=self.entry.usage_interval,
                usage_period=self.entry.usage_period,
                settings_interval=self.entry.settings_interval,
                ledger=self.ledger,
                clock=self._clock,
                concurrency=self.ctx.max_concurrent_requests,
            )
            target = NetworkTarget(network_id, self.settings, collector, self.client)
            self._targets[network_id] = target
        return target

    async def discover(self) -> Sequence[Target]:
        if self.entry.networks == "all":
            ids = [n.id for n in await self.client().list_networks() if n.id > 0]
        else:
            ids = list(self.entry.networks)
        for gone in set(self._targets) - set(ids):
            del self._targets[gone]
        return [self._target(i) for i in dict.fromkeys(ids)]

    async def aclose(self) -> None:
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
