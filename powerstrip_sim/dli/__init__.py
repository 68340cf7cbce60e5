"""A faithful-where-verified, configurable-where-guessed DLI controller simulator."""

from exporter.sources.dli.simulator.app import Behaviour, Stats
from exporter.sources.dli.simulator.device import FLOAT32_ZERO, SimDevice, f32
from exporter.sources.dli.simulator.faults import Faults
from exporter.sources.dli.simulator.models import MODELS, MeterNaming
from exporter.sources.dli.simulator.server import DEFAULT_PASSWORD, DEFAULT_USERNAME, DliSimulator

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "FLOAT32_ZERO",
    "MODELS",
    "Behaviour",
    "DliSimulator",
    "Faults",
    "MeterNaming",
    "SimDevice",
    "Stats",
    "f32",
]
