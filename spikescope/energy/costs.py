"""Per-operation cost models of ANNs and SNNs.

- Absolute energies at 45 nm (Horowitz, ISSCC 2014): the ANN pays one MAC per connection, the
  SNN one accumulate per synaptic operation plus one state update per neuron per step; memory
  traffic (one weight read per synaptic op in the SNN, each weight read once per layer in the
  ANN) can be switched on and off.
- The thesis' relative cost model (Rueckauer 2020, Sec. 2.3.3.3, eq. 2.32), cost in units of
  one adder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..sim.network import SpikingNetwork
from ..sim.recording import Recording
from ..sim.stages import fan_in

# ============================================================================ Horowitz 45 nm
HOROWITZ_SOURCE = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
                   "ISSCC 2014, 45 nm, 0.9 V")
HOROWITZ_45NM_J: dict[str, float] = {
    "fp32_add": 0.9e-12,
    "fp32_mult": 3.7e-12,
    "int32_add": 0.1e-12,
    "int32_mult": 3.1e-12,
    "sram_read_32b": 5e-12,  # 32-bit read from an 8 KB SRAM
    "dram_read_32b": 640e-12,
}
"""Energy per operation in joules at 45 nm (Horowitz 2014). Edit to change every estimate."""

MEMORIES = ("sram", "dram")


@dataclass(frozen=True)
class CostModel:
    """Per-operation energies for the ANN-vs-SNN comparison.

    arithmetic: "fp32" or "int32" (which Horowitz add/multiply to use).
    memory: None (compute only), "sram" (8 KB SRAM, 5 pJ per 32-bit read) or "dram" (640 pJ).
    energies_j: the table to read from (default :data:`HOROWITZ_45NM_J`).
    """

    arithmetic: str = "fp32"
    memory: str | None = "sram"
    energies_j: dict = field(default_factory=lambda: dict(HOROWITZ_45NM_J))

    def __post_init__(self) -> None:
        if self.arithmetic not in ("fp32", "int32"):
            raise ValueError(f"arithmetic must be 'fp32' or 'int32', got {self.arithmetic!r}")
        if self.memory is not None and self.memory not in MEMORIES:
            raise ValueError(f"memory must be None (off), 'sram' or 'dram', got {self.memory!r}")

    @property
    def add_j(self) -> float:
        return self.energies_j[f"{self.arithmetic}_add"]

    @property
    def mult_j(self) -> float:
        return self.energies_j[f"{self.arithmetic}_mult"]

    @property
    def mac_j(self) -> float:
        """One multiply-accumulate = one multiply + one add."""
        return self.mult_j + self.add_j

    @property
    def read_j(self) -> float:
        """One 32-bit weight read (0 with memory traffic switched off)."""
        return 0.0 if self.memory is None else self.energies_j[f"{self.memory}_read_32b"]


@dataclass(frozen=True)
class NetworkCounts:
    """Size of a network for cost models (per inference of one sample).

    connections: synapses used by one ANN inference = MACs (sum of exact fan-ins, over every
    synaptic term of a layer: a residual shortcut's connections count too).
    n_weights: stored weights of all terms (convolution kernels counted once), n_biases: biases.
    n_neurons: neurons with a state (all layers with weights).
    """

    connections: int
    n_weights: int
    n_biases: int
    n_neurons: int


def network_counts(net: SpikingNetwork) -> NetworkCounts:
    """Connections, weights, biases and neurons of a converted network."""
    return NetworkCounts(
        connections=int(sum(float(fan_in(s).sum()) for s in net.stages)),
        n_weights=int(sum(t.weight.numel() for s in net.stages for t in s.terms())),
        n_biases=int(sum(int((s.bias != 0).any()) * s.n_neurons for s in net.stages)),
        n_neurons=int(sum(net.n_neurons)),
    )


def ann_energy_j(counts: NetworkCounts, model: CostModel = CostModel()) -> dict[str, float]:
    """Energy of one ANN inference: one MAC per connection, one add per bias, and (memory on)
    every weight and bias read once per layer. Returns {"compute_j", "memory_j", "energy_j"}."""
    compute = counts.connections * model.mac_j + counts.n_biases * model.add_j
    memory = (counts.n_weights + counts.n_biases) * model.read_j
    return {"compute_j": compute, "memory_j": memory, "energy_j": compute + memory}


def snn_energy_j(synaptic_ops: float, neuron_updates: float,
                 model: CostModel = CostModel()) -> dict[str, float]:
    """Energy of an SNN inference: one add per synaptic op, one add per neuron state update
    (per neuron per step), and (memory on) one weight read per synaptic op."""
    compute = (synaptic_ops + neuron_updates) * model.add_j
    memory = synaptic_ops * model.read_j
    return {"compute_j": compute, "memory_j": memory, "energy_j": compute + memory}


def compare_ann_snn(net: SpikingNetwork, recording: Recording, *, t: int | None = None,
                    arithmetic: str = "fp32") -> pd.DataFrame:
    """ANN vs SNN energy per inference with memory traffic off, in SRAM and in DRAM.

    The SNN is charged up to step ``t`` (0-based; None = the whole run). One row per memory
    setting, columns ann_energy_j, snn_energy_j, snn_over_ann.
    """
    t = recording.timesteps - 1 if t is None else int(t)
    counts = network_counts(net)
    ops = float(recording.synaptic_ops[t])
    rows = []
    for memory in (None, "sram", "dram"):
        m = CostModel(arithmetic=arithmetic, memory=memory)
        a = ann_energy_j(counts, m)["energy_j"]
        s = snn_energy_j(ops, counts.n_neurons * (t + 1), m)["energy_j"]
        rows.append({"memory": memory or "off", "ann_energy_j": a, "snn_energy_j": s,
                     "snn_over_ann": s / a})
    return pd.DataFrame(rows)



# ============================================================================ eq. 2.32
def c_add(b1: float, b2: float) -> float:
    """Relative cost of adding a b1-bit and a b2-bit operand (eq. 2.32 text, 1 = one adder):
    c_add = max(b1, b2) + |b1 - b2| / 2."""
    return max(b1, b2) + abs(b1 - b2) / 2


def c_mac(b1: float, b2: float) -> float:
    """Relative cost of a b1 x b2-bit multiply-accumulate: c_MAC = b1 * b2."""
    return b1 * b2


def c_shift(b1: float) -> float:
    """Relative cost of shifting a b1-bit word by 0 or 1 bit: c_shift = b1 / 5."""
    return b1 / 5


def relative_cost(n_mac: float = 0, n_add: float = 0, n_shift: float = 0, *,
                  act_bits: int = 32, weight_bits: int = 8) -> float:
    """Eq. 2.32: C = sum_op c_op N_op, in units of one adder.

    MACs and adds combine a ``act_bits`` activation/state with a ``weight_bits`` weight;
    shifts act on ``act_bits`` words.
    """
    return (n_mac * c_mac(act_bits, weight_bits) + n_add * c_add(act_bits, weight_bits)
            + n_shift * c_shift(act_bits))

