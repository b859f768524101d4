"""The state of one run: what ``reset`` starts and every step (or the layer-by-layer path)
advances. One named object, shared by the simulator, the code and the layer-by-layer path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..neurons import NeuronState
from .recorder import Recorder


@dataclass
class RunState:
    """batch: samples; t: steps done; neurons: per layer the neuron state; pool_counts: the
    spiking max-pool gates by (layer, op index); recorder: what is recorded; code: the spike
    code's own state for this run (a dict it fills in ``start``)."""

    batch: int
    neurons: list[NeuronState]
    recorder: Recorder
    t: int = 0
    pool_counts: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)
    """During a step: the outputs of the stages stepped so far (-1: the step's input)."""
