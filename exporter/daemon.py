"""The running exporter: config (re)loading, the engine, and the metrics registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from exporter.actions.service import ActionService
from exporter.config.errors import ConfigError
from exporter.config.loader import Config, load_config
from exporter.engine.engine import Engine, Shard
from exporter.metrics.body_cache import BodyCache
from exporter.metrics.changes import Changes
from exporter.metrics.remediation import RemediationMetrics
from exporter.metrics.selfmetrics import ProcessMetrics
from exporter.remediation.service import RemediationService
from exporter.sources.api import Source, Target
from exporter.web.security import WebSecurity

log = structlog.get_logger("exporter.daemon")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    messages: tuple[str, ...] = ()


class _EngineView:
    """The read-only slice of the engine that actions may use."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def target(self, source: str, name: str) -> Target | None:
        return self._engine.target(source, name)

    def targets(self, source: str) -> Sequence[Target]:
        return self._engine.targets(source)

    def has_data(self, source: str, name: str) -> bool:
        state = self._engine.store.states.get((source, name))
        return state is not None and not state.stale and bool(state.samples.families)


def _log_warnings(path: Path, config: Config) -> None:
    for warning in config.warnings:
        log.warning("config warning", file=str(path), detail=warning)


class Daemon:
    """Glue between the config file, the engine and what the HTTP layer serves."""

    def __init__(
        self,
        config_path: str | Path,
        sources: Mapping[str, type[Source]],
        shard: Shard | None = None,
        web_config_path: str | Path | None = None,
        storage_path: Path | None = None,
        *,
        allow_empty_reload: bool = False,
    ) -> None:
        self.config_path = Path(config_path)
        self.allow_empty_reload = allow_empty_reload
        """`--config.allow-empty-reload`: accept a reload that leaves no target."""
        self.web = WebSecurity(Path(web_config_path) if web_config_path else None)
        self.sources = dict(sources)
        self.changes = Changes()
        self.process_metrics = ProcessMetrics(self.changes)
        self.engine = Engine(
            self.sources,
            observer=self.process_metrics,
            shard=shard,
            on_change=self.process_metrics.flush,
            discovery=self.process_metrics,
            storage=storage_path,
        )
        self.process_metrics.set_shard(self.engine.shard.index, self.engine.shard.count)
        for name, source in self.sources.items():
            self.process_metrics.init_endpoints(name, source.api_endpoints)
        specs = tuple(spec for source in self.sources.values() for spec in source.actions())
        for spec in specs:
            self.process_metrics.init_actions(spec.source, spec.action)
        self.actions = ActionService(specs, _EngineView(self.engine), self.process_metrics)
        self.remediation = RemediationService(
            self.actions,
            RemediationMetrics(self.process_metrics.registry, self.process_metrics.client_event),
            self.engine,
            storage=storage_path,
        )
        self.bodies = BodyCache(
            self.engine.families, self.process_metrics.registry, self.process_metrics.runtime_registry, self.changes
        )

    @property
    def config(self) -> Config | None:
        return self.engine.config

    async def start(self) -> None:
        """Load the config and start polling; raises ConfigError on a bad file."""
        self.web.load()
        config = load_config(self.config_path, self.sources)
        _log_warnings(self.config_path, config)
        self.actions.configure(config.actions)
        self.remediation.configure(config.remediation)
        await self.engine.apply(config)
        self.process_metrics.reload_result(True)

    async def reload(self) -> ReloadResult:
        """Re-read the config; an invalid one leaves the running config untouched."""
        try:
            config = load_config(self.config_path, self.sources)
            self._check_not_emptied(config)
            self.web.reload()
        except ConfigError as err:
            self.process_metrics.reload_result(False)
            log.error("reload failed, keeping the running config", errors=err.messages)
            return ReloadResult(False, tuple(err.messages))
        _log_warnings(self.config_path, config)
        self.actions.configure(config.actions)
        self.remediation.configure(config.remediation)
        await self.engine.apply(config)
        self.process_metrics.reload_result(True)
        log.info("config reloaded", file=str(self.config_path))
        return ReloadResult(True)

    def _check_not_emptied(self, config: Config) -> None:
        """A reload that would remove every target is refused unless allowed: an empty or truncated file
        (a failed deploy, a full disk) would otherwise switch all monitoring off with a 200."""
        running = self.config.entries if self.config is not None else ()
        if config.entries or not running or self.allow_empty_reload:
            return
        raise ConfigError(
            [
                f"{self.config_path}: the new config has no targets and would remove all {len(running)} running "
                "target entries; refused (start the exporter with --config.allow-empty-reload to allow it)"
            ]
        )

    async def stop(self) -> None:
        await self.remediation.aclose()
        await self.engine.shutdown()
        self.web.close()
        self.bodies.close()
