"""DliSource: one static target per configured controller, polled independently."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

import structlog

from exporter.config.types import TargetEntry
from exporter.metrics.spec import MetricSpec, SampleSet
from exporter.sources.action_api import ActionSpec
from exporter.sources.api import Component, PollSettings, Source, SourceContext, Target, TargetGroup
from exporter.sources.dli import metrics
from exporter.sources.dli.client import ClientSettings, DliClient
from exporter.sources.dli.collector import PollData, build_samples
from exporter.sources.dli.config import DliEntry
from exporter.sources.dli.endpoints import ALL_ENDPOINTS
from exporter.sources.dli.errors import DliAuthError
from exporter.sources.dli.inventory import DeviceInventory, device_inventory
from exporter.sources.dli.models import Identity, Meter

log = structlog.get_logger("exporter.sources.dli")


class DliTarget(Target):
    """One controller. `client` is public so an action API can call its write methods."""

    def __init__(
        self,
        entry: DliEntry,
        settings: PollSettings,
        ctx: SourceContext,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(entry.name, settings)
        self.entry = entry
        self.client = DliClient(
            ClientSettings(
                url=entry.url,
                username=entry.username,
                password=entry.credential().reveal(),
                auth=entry.auth,
                ca_file=entry.ca_file,
                insecure_skip_verify=entry.insecure_skip_verify,
                timeout=settings.timeout,
                max_items=settings.max_items_per_answer,
            ),
            ctx,
        )
        self._clock = clock
        self._aliases = entry.aliases()
        self._identity: Identity | None = None
        self._identity_due = float("-inf")
        # Non-admin users get 403 on script/threads; re-try only when identity is re-read.
        self._threads_due = float("-inf")
        self.inventory: DeviceInventory | None = None
        """The outlets (and their critical/locked flags) of the last successful poll, for actions."""
        self._meters_permitted = True

    async def poll(self) -> SampleSet:
        outlets = await self.client.outlets()
        meters = await self._meters()
        now = self._clock()
        threads: int | None = None
        if now >= self._threads_due:
            threads = await self.client.script_threads()
            if threads is None:
                self._threads_due = now + self.entry.identity_interval
        if self._identity is None or now >= self._identity_due:
            self._identity = await self.client.identity()
            self._identity_due = now + self.entry.identity_interval
        data = PollData(
            outlets=outlets,
            meters=meters or (),
            identity=self._identity,
            script_threads=threads,
            meters_permitted=meters is not None,
        )
        samples = build_samples(self.name, data, aliases=self._aliases, humidity_unit=self.entry.humidity_unit)
        self.inventory = device_inventory(outlets)
        return samples

    def components(self) -> Sequence[Component]:
        return self.inventory.components if self.inventory is not None else ()

    async def _meters(self) -> list[Meter] | None:
        """The meters, or None when the user may not read them (403): an account without meter
        rights still gets its outlets. Asked again every poll, so granting the right shows at once;
        logged once per change, not per poll."""
        try:
            meters: list[Meter] | None = await self.client.meters()
        except DliAuthError as err:
            if err.status != 403:
                raise
            meters = None
        permitted = meters is not None
        if permitted != self._meters_permitted:
            self._meters_permitted = permitted
            if permitted:
                log.info("meters readable again", source="dli", target=self.name)
            else:
                log.warning("meters not permitted (HTTP 403); exporting outlets only", source="dli", target=self.name)
        return meters

    async def aclose(self) -> None:
        await self.client.aclose()


class DliGroup(TargetGroup):
    """A DLI entry is exactly one device, so discovery just hands out the one target."""

    def __init__(self, entry: DliEntry, settings: PollSettings, ctx: SourceContext) -> None:
        super().__init__(entry)
        self.target = DliTarget(entry, settings, ctx)

    async def discover(self) -> Sequence[Target]:
        return [self.target]


class DliSource(Source):
    """Digital Loggers web power switches (Pro, EPCR, DIN4) over the REST-style API."""

    name: ClassVar[str] = "dli"
    metrics: ClassVar[tuple[MetricSpec, ...]] = metrics.ALL_METRICS
    api_endpoints: ClassVar[tuple[str, ...]] = ALL_ENDPOINTS
    entry_model: ClassVar[type[TargetEntry]] = DliEntry
    default_backoff_intervals: ClassVar[float | None] = 2.0
    """A unit on the LAN: a failing poll costs it one request, and a recovered unit must not read
    down for the ten minutes of the global back-off cap."""

    @classmethod
    def build_group(cls, entry: TargetEntry, defaults: PollSettings, ctx: SourceContext) -> TargetGroup:
        if not isinstance(entry, DliEntry):
            raise TypeError(f"expected a DliEntry, got {type(entry).__name__}")
        return DliGroup(entry, defaults, ctx)

    @classmethod
    def actions(cls) -> Sequence[ActionSpec]:
        from exporter.sources.dli.actions import ACTIONS

        return ACTIONS
