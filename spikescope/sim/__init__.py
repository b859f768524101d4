"""Simulation: stages (:mod:`.stages`), exact sums (:mod:`.exact`), the network and its two
paths, stepping (:mod:`.network`) and layer by layer (:mod:`.layerwise`), and what a run
records (:mod:`.recording`)."""

from .network import SpikingNetwork
from .recording import Recording
from .stages import Stage

__all__ = ["Recording", "SpikingNetwork", "Stage"]
