"""A faithful CloudTrax power-strip API simulator for tests, the demo and benchmarks."""

from powerstrip_sim.cloudtrax.app import CloudTraxSimulator
from powerstrip_sim.cloudtrax.auth import SimKey
from powerstrip_sim.cloudtrax.faults import FAULT_KINDS, Fault, FaultKind
from powerstrip_sim.cloudtrax.options import SimulatorOptions

__all__ = ["FAULT_KINDS", "CloudTraxSimulator", "Fault", "FaultKind", "SimKey", "SimulatorOptions"]
