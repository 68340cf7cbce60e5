"""A faithful CloudTrax power-strip API simulator for tests, the demo and benchmarks."""

from exporter.sources.cloudtrax.simulator.app import CloudTraxSimulator
from exporter.sources.cloudtrax.simulator.auth import SimKey
from exporter.sources.cloudtrax.simulator.faults import FAULT_KINDS, Fault, FaultKind
from exporter.sources.cloudtrax.simulator.options import SimulatorOptions

__all__ = ["FAULT_KINDS", "CloudTraxSimulator", "Fault", "FaultKind", "SimKey", "SimulatorOptions"]
