"""Owns the target groups and runners, and reconciles them with each (re)loaded config."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from exporter.config.loader import Config, entry_fingerprint
from exporter.config.model import GlobalConfig, effective_settings
from exporter.engine.runner import TargetRunner, classify
from exporter.engine.state import SnapshotStore, TargetKey
from exporter.engine.status import target_families
from exporter.metrics.render import RenderedFamily
from exporter.sources.api import ApiObserver, Source, SourceContext, Target, TargetGroup

log = structlog.get_logger("exporter.engine")

SHUTDOWN_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Shard:
    """This replica's share of targets: stable hash of `source/target` modulo count."""

    index: int = 0
    count: int = 1

    def owns(self, source: str, target: str) -> bool:
        if self.count <= 1:
            return True
        digest = hashlib.sha256(f"{source}/{target}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


@dataclass
class GroupHandle:
    source: str
    fingerprint: str
    group: TargetGroup
    runners: dict[str, TargetRunner] = field(default_factory=dict)
    discovered: bool = False
    task: asyncio.Task[None] | None = None
    discovery_error: str | None = None
    """Why the group's last discovery failed (None: it succeeded, or the group does not discover)."""


class DiscoveryObserver(Protocol):
    def discovery_result(self, source: str, group: str, reason: str | None) -> None: ...
    def forget_discovery(self, source: str, group: str) -> None: ...


class Engine:
    """Runs every target of the current config; a scrape only ever reads `store`."""

    def __init__(
        self,
        sources: Mapping[str, type[Source]],
        *,
        observer: ApiObserver | None = None,
        shard: Shard | None = None,
        on_change: Callable[[], None] | None = None,
        discovery: DiscoveryObserver | None = None,
        storage: Path | None = None,
    ) -> None:
        self.sources = dict(sources)
        self.storage = storage
        self.discovery = discovery
        self.store = SnapshotStore(on_change)
        self.observer = observer
        self.shard = shard or Shard()
        self._groups: dict[tuple[str, str], GroupHandle] = {}
        self._runners: dict[TargetKey, TargetRunner] = {}
        """Every group's runners by target key: lookups from scrapes cost one step, not one per group."""
        self._contexts: dict[str, tuple[int, SourceContext]] = {}
        self._config: Config | None = None
        self._lock = asyncio.Lock()

    @property
    def config(self) -> Config | None:
        return self._config

    @property
    def groups(self) -> Mapping[tuple[str, str], GroupHandle]:
        return self._groups

    def is_ready(self) -> bool:
        """True once every group has discovered and every target has finished one attempt."""
        handles = self._groups.values()
        if any(not h.discovered for h in handles):
            return False
        return all(r.state.attempted for h in handles for r in h.runners.values())

    def discovery_failures(self) -> list[tuple[str, str, str]]:
        """(source, group, error) of every group whose last discovery failed."""
        return [
            (h.source, h.group.name, h.discovery_error)
            for h in list(self._groups.values())
            if h.discovery_error is not None
        ]

    def target(self, source: str, name: str) -> Target | None:
        runner = self._runners.get((source, name))
        return runner.target if runner is not None else None

    def targets(self, source: str) -> list[Target]:
        """Every target of `source` being polled."""
        return [runner.target for (s, _), runner in list(self._runners.items()) if s == source]

    def interval(self, key: TargetKey) -> float | None:
        """The target's effective poll interval (None once it is gone); safe from any thread."""
        runner = self._runners.get(key)
        return runner.target.settings.interval if runner is not None else None

    def families(self, names: frozenset[str] | None = None) -> Iterator[RenderedFamily]:
        """What the targets show on /metrics now (status, then device lines), or only the families in
        `names`; safe from any thread."""
        return target_families(self.store.states.values(), self.interval, names)

    def _context(self, source: str, config: Config) -> SourceContext:
        settings = config.sources.get(source)
        limit = settings.max_concurrent_requests if settings else None
        limit = limit or self.sources[source].default_max_concurrent_requests
        known = self._contexts.get(source)
        if known is not None and known[0] == limit:
            return known[1]
        ctx = SourceContext(source, limit, self.observer, storage=self.storage)
        self._contexts[source] = (limit, ctx)
        return ctx

    async def apply(self, config: Config) -> None:
        """Start added groups, stop removed or changed ones, keep unchanged ones as they are."""
        async with self._lock:
            wanted: dict[tuple[str, str], tuple[str, object]] = {}
            for entry in config.entries:
                wanted[(entry.source, entry.name)] = (entry_fingerprint(entry), entry)
            old_global = self._config.global_ if self._config else None
            global_changed = old_global is not None and old_global != config.global_
            old_sources = self._config.sources if self._config else config.sources
            for key, handle in list(self._groups.items()):
                fp = wanted.get(key, (None, None))[0]
                source_changed = old_sources.get(handle.source) != config.sources.get(handle.source)
                if fp != handle.fingerprint or global_changed or source_changed:
                    await self._stop_group(key)
            self._config = config
            for entry in config.entries:
                key = (entry.source, entry.name)
                if key in self._groups:
                    continue
                source = self.sources[entry.source]
                ctx = self._context(entry.source, config)
                group = source.build_group(entry, effective_settings(entry, config.global_), ctx)
                handle = GroupHandle(entry.source, wanted[key][0], group)
                self._groups[key] = handle
                handle.task = asyncio.create_task(self._discover_loop(handle), name=f"discover {key}")
            log.info("config applied", groups=len(self._groups))

    async def _discover_loop(self, handle: GroupHandle) -> None:
        attempt = 0
        while True:
            delay = handle.group.rediscover_interval
            try:
                timeout = effective_settings(handle.group.entry, self._global()).timeout
                async with asyncio.timeout(timeout):
                    targets = await handle.group.discover()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason, message, retry_after = classify(exc)
                attempt += 1
                repeated = handle.discovery_error == message  # the same failure again: once at warning level
                self._discovery_done(handle, reason, message)
                log.log(
                    logging.DEBUG if repeated else logging.WARNING,
                    "discovery failed",
                    source=handle.source,
                    group=handle.group.name,
                    reason=reason,
                    error=message,
                )
                handle.discovered = True  # an attempt was made; readiness must not hang on it
                backoff = min(self._global().backoff_max, 2.0 ** min(attempt, 10))
                await asyncio.sleep(max(backoff, retry_after or 0.0))
                continue
            attempt = 0
            self._discovery_done(handle, None, None)
            await self._sync_targets(handle, targets)
            handle.discovered = True
            if delay is None:
                return
            await asyncio.sleep(delay)

    def _discovery_done(self, handle: GroupHandle, reason: str | None, error: str | None) -> None:
        """Record a discovery's outcome; only groups that rediscover report it as metrics."""
        handle.discovery_error = error
        if handle.group.rediscover_interval is not None and self.discovery is not None:
            self.discovery.discovery_result(handle.source, handle.group.name, reason)

    def _global(self) -> GlobalConfig:
        assert self._config is not None
        return self._config.global_

    async def _sync_targets(self, handle: GroupHandle, targets: Sequence[Target]) -> None:
        g = self._global()
        wanted: dict[str, Target] = {}
        for target in targets:
            if not self.shard.owns(handle.source, target.name):
                continue
            if self._owned_elsewhere(handle, target.name):
                log.warning("target already polled by another entry", source=handle.source, target=target.name)
                continue
            wanted[target.name] = target
        for name in list(handle.runners):
            if name not in wanted:
                await self._stop_runner(handle, name)
        for name, target in wanted.items():
            if name in handle.runners:
                continue
            runner = TargetRunner(
                handle.source,
                target,
                self.store,
                jitter=g.jitter,
                backoff_max=self._backoff_max(handle.source, target.settings.interval),
                retry_after_max=g.backoff_max,
            )
            handle.runners[name] = runner
            self._runners[(handle.source, name)] = runner
            runner.start()

    def _backoff_max(self, source: str, interval: float) -> float:
        """The back-off cap of one target: the source's setting, else its default in intervals, never
        above the global cap (which also bounds every Retry-After)."""
        g = self._global()
        assert self._config is not None
        settings = self._config.sources.get(source)
        if settings is not None and settings.backoff_max is not None:
            return settings.backoff_max
        intervals = self.sources[source].default_backoff_intervals
        return g.backoff_max if intervals is None else min(g.backoff_max, intervals * interval)

    def _owned_elsewhere(self, handle: GroupHandle, name: str) -> bool:
        return any(h is not handle and h.source == handle.source and name in h.runners for h in self._groups.values())

    async def _stop_runner(self, handle: GroupHandle, name: str) -> None:
        runner = handle.runners.pop(name)
        if self._runners.get((handle.source, name)) is runner:
            del self._runners[(handle.source, name)]
        self.store.remove((handle.source, name))  # first: a cancelled stop must not leave its series behind
        await runner.stop()

    async def _stop_group(self, key: tuple[str, str]) -> None:
        handle = self._groups.pop(key)
        if self.discovery is not None:
            self.discovery.forget_discovery(handle.source, handle.group.name)
        if handle.task is not None:
            handle.task.cancel()
            await asyncio.gather(handle.task, return_exceptions=True)
        await asyncio.gather(*(self._stop_runner(handle, n) for n in list(handle.runners)))
        try:
            await asyncio.wait_for(handle.group.aclose(), timeout=2.0)
        except Exception as err:
            log.warning("group close failed", source=handle.source, group=handle.group.name, error=repr(err))

    async def shutdown(self) -> None:
        """Stop everything; bounded even if a poll ignores cancellation."""
        stops = [asyncio.create_task(self._stop_group(k)) for k in list(self._groups)]
        if stops:
            _done, pending = await asyncio.wait(stops, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
