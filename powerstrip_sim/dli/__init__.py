"""A faithful-where-verified, configurable-where-guessed DLI controller simulator."""

from powerstrip_sim.dli.app import Behaviour, Stats
from powerstrip_sim.dli.device import FLOAT32_ZERO, SimDevice, f32
from powerstrip_sim.dli.faults import Faults
from powerstrip_sim.dli.models import MODELS, MeterNaming
from powerstrip_sim.dli.server import DEFAULT_PASSWORD, DEFAULT_USERNAME, DliSimulator

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
