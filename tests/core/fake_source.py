"""A scriptable source for engine and HTTP tests; it knows no vendor and opens no sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from exporter.config.types import SecretFile, SecretStr, TargetEntry, pick_secret
from exporter.metrics.spec import MetricSpec, SampleSet, SampleSetBuilder
from exporter.sources.action_api import ActionEnv, ActionParam, ActionSpec, Outcome, Resolved, not_found
from exporter.sources.api import PollError, PollSettings, Source, SourceContext, Target, TargetGroup

VALUE = MetricSpec("fake_device_value", "Generation number of the poll that produced it.", "gauge", ("device",))
PORT = MetricSpec("fake_port_value", "Generation number, per port.", "gauge", ("device", "port"))
ENERGY = MetricSpec("fake_device_energy_joules_total", "A counter.", "counter", ("device",))


class FakeEntry(TargetEntry):
    source: Literal["fake"]
    devices: Annotated[int, Field(ge=0, le=100_000)] = 1
    ports: Annotated[int, Field(ge=0, le=64)] = 2
    mode: Literal["ok", "hang", "error"] = "ok"
    token: SecretStr | None = None
    token_file: SecretFile | None = None
    targets: list[str] | None = None
    rediscover: float | None = None
    """Seconds between discoveries (None: discover once, like a static entry)."""

    @model_validator(mode="after")
    def _one_token(self) -> FakeEntry:
        pick_secret(self, "token", "token_file", required=False)
        return self


@dataclass
class Script:
    """What a fake target does on its next polls; tests mutate it between polls."""

    devices: int = 1
    ports: int = 2
    error: PollError | Exception | None = None
    hang: bool = False
    delay: float = 0.0
    polls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    starts: list[float] = field(default_factory=list)
    """Event-loop time at the start of each poll."""


SCRIPTS: dict[str, Script] = {}
DISCOVERY_ERRORS: dict[str, Exception] = {}
"""Group name -> the error its next discoveries raise; tests set and clear it."""
FLEET = {"in_flight": 0, "peak": 0}
"""Requests in flight across all fake targets, to check the per-source limit."""


def script(name: str) -> Script:
    return SCRIPTS.setdefault(name, Script())


class FakeTarget(Target):
    def __init__(self, name: str, settings: PollSettings, entry: FakeEntry, ctx: SourceContext) -> None:
        super().__init__(name, settings)
        self.entry = entry
        self.ctx = ctx
        self.closed = False
        self.inventory: dict[str, int] = {}
        """Device -> its port count, from the last successful poll."""
        sc = script(name)
        sc.devices, sc.ports = entry.devices, entry.ports
        if entry.mode == "hang":
            sc.hang = True
        elif entry.mode == "error":
            sc.error = PollError("http_status", "fake: HTTP 500")

    async def poll(self) -> SampleSet:
        sc = script(self.name)
        sc.polls += 1
        generation = sc.polls
        sc.started.set()
        sc.starts.append(asyncio.get_running_loop().time())
        async with self.ctx.request("GET /fake"):
            sc.in_flight += 1
            sc.max_in_flight = max(sc.max_in_flight, sc.in_flight)
            FLEET["in_flight"] += 1
            FLEET["peak"] = max(FLEET["peak"], FLEET["in_flight"])
            try:
                if sc.hang:
                    await asyncio.Event().wait()
                if sc.delay:
                    await asyncio.sleep(sc.delay)
                if sc.error is not None:
                    raise sc.error
            finally:
                sc.in_flight -= 1
                FLEET["in_flight"] -= 1
        self.inventory = {f"{self.name}-d{d}": sc.ports for d in range(sc.devices)}
        b = SampleSetBuilder()
        for d in range(sc.devices):
            device = f"{self.name}-d{d}"
            b.add(VALUE, generation, device)
            b.add(ENERGY, generation * 10, device)
            for p in range(sc.ports):
                b.add(PORT, generation, device, p)
        return b.build()

    async def aclose(self) -> None:
        self.closed = True


class FakeGroup(TargetGroup):
    def __init__(self, entry: FakeEntry, settings: PollSettings, ctx: SourceContext) -> None:
        super().__init__(entry)
        self.settings = settings
        self.ctx = ctx
        self.fake_entry = entry
        self.rediscover_interval = entry.rediscover

    async def discover(self) -> Sequence[Target]:
        error = DISCOVERY_ERRORS.get(self.name)
        if error is not None:
            raise error
        names = self.fake_entry.targets or [self.name]
        return [FakeTarget(n, self.settings, self.fake_entry, self.ctx) for n in names]


class FakeSource(Source):
    name: ClassVar[str] = "fake"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (VALUE, PORT, ENERGY)
    api_endpoints: ClassVar[tuple[str, ...]] = ("GET /fake",)
    entry_model: ClassVar[type[TargetEntry]] = FakeEntry
    default_max_concurrent_requests: ClassVar[int] = 4

    @classmethod
    def build_group(cls, entry: TargetEntry, defaults: PollSettings, ctx: SourceContext) -> TargetGroup:
        assert isinstance(entry, FakeEntry)
        return FakeGroup(entry, defaults, ctx)

    @classmethod
    def actions(cls) -> Sequence[ActionSpec]:
        return FAKE_ACTIONS


# --- actions -------------------------------------------------------------------------------------

ACTION_CALLS: list[tuple[str, str, int | None]] = []
"""Every upstream call a fake action made: (action, device, port)."""


@dataclass
class ActionScript:
    error: Exception | None = None
    hang: bool = False


ACTION_SCRIPT = ActionScript()


def _find_device(env: ActionEnv, device: str) -> tuple[str, int]:
    for target in env.targets("fake"):
        if isinstance(target, FakeTarget) and env.has_data("fake", target.name) and device in target.inventory:
            return device, target.inventory[device]
    raise not_found("the device is not in the latest snapshot")


def _known(env: ActionEnv, device: str) -> bool:
    return any(isinstance(t, FakeTarget) and device in t.inventory for t in env.targets("fake"))


async def _call(action: str, device: str, port: int | None) -> Outcome:
    ACTION_CALLS.append((action, device, port))
    if ACTION_SCRIPT.hang:
        await asyncio.Event().wait()
    if ACTION_SCRIPT.error is not None:
        raise ACTION_SCRIPT.error
    return Outcome(200, f"{action} sent to {device}")


def _resolve_reboot(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device, _ = _find_device(env, str(params["device"]))
    return Resolved(f"reboot {device}", lambda: _call("reboot", device, None))


def _resolve_reset(env: ActionEnv, params: Mapping[str, int | str]) -> Resolved:
    device, ports = _find_device(env, str(params["device"]))
    port = int(params["port"])
    if port >= ports:
        raise not_found(f"device {device!r} has no port {port}")
    return Resolved(f"reset port {port} of {device}", lambda: _call("port_reset", device, port))


FAKE_ACTIONS = (
    ActionSpec(
        source="fake",
        action="reboot",
        path="/fake/{device}/reboot",
        params=(ActionParam("device", "Device name."),),
        target_param="device",
        summary="Reboot a fake device.",
        resolve=_resolve_reboot,
        known=_known,
    ),
    ActionSpec(
        source="fake",
        action="port_reset",
        path="/fake/{device}/ports/{port}/reset",
        params=(ActionParam("device", "Device name."), ActionParam("port", "Port index.", "integer", 0, 63)),
        target_param="device",
        summary="Reset a port.",
        resolve=_resolve_reset,
        known=_known,
    ),
)
