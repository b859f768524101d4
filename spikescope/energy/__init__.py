"""What an answer costs: energy, delay and energy-delay product (EDP) of ANNs and SNNs.

Three cost models, every constant sourced and editable:

- Absolute per-operation energies at 45 nm (Horowitz, ISSCC 2014): the ANN pays one MAC per
  connection, the SNN one accumulate per synaptic operation plus one state update per neuron
  per step; memory traffic (one weight read per synaptic op in the SNN, each weight read once
  per layer in the ANN) can be switched on and off.
- The thesis' relative cost model (Rueckauer 2020, Sec. 2.3.3.3, eq. 2.32), cost in units of
  one adder, and :func:`table_2_7` reproducing the structure of its Table 2.7.
- Platforms (:data:`PLATFORMS`): published joules per synaptic operation (SOP) of neuromorphic
  chips, seconds per algorithmic step, and the measured per-inference figures of Blouw et al.
  2019 as reference rows. ``energy = SOPs x J/SOP (+ power x delay)``,
  ``delay = steps x seconds per step``, ``EDP = energy x delay`` (thesis Sec. 3.3.1).

Plus the trade-off table per time step (thesis Fig. 3.10), an early-decision policy, the Pareto
front, and a Loihi-style deployment estimate (8-bit weights, neurocore count from Table 3.1).
Energies are in joules (``*_j``), delays in seconds (``*_s``), EDP in joule-seconds (``*_js``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch

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

    connections: synapses used by one ANN inference = MACs (sum of exact fan-ins).
    n_weights: stored weights (convolution kernels counted once), n_biases: biases.
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
        n_weights=int(sum(s.weight.numel() for s in net.stages)),
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


def quantize_activation(a: torch.Tensor, bits: int) -> torch.Tensor:
    """Truncate normalized activations in [0, 1) to ``bits`` binary digits (the value an
    n-bit temporal pattern code transmits: sum_i bit_i 2^-i)."""
    scale = 2.0 ** bits
    return torch.floor(a.clamp(0, 1 - 1 / scale) * scale) / scale


def _popcount(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.to(torch.int64)
    count = torch.zeros_like(codes)
    while bool((codes > 0).any()):
        count += codes & 1
        codes = codes >> 1
    return count


@torch.no_grad()
def pattern_ops(net: SpikingNetwork, x: torch.Tensor, bits: int) -> dict[str, float]:
    """Operations of an n-bit temporal pattern code from the activations' bit patterns.

    Every layer (input included) sends its ``bits``-bit truncated activation as a bit string:
    one spike per 1-bit, each costing fan-out adds; every neuron shifts its state once per
    bit. Returns per-sample means {"adds", "shifts", "logits"}, the logits being the
    output logits of the network running on truncated activations.
    """
    h = quantize_activation(net.check_input(x).double(), bits)
    adds = torch.zeros(len(h), dtype=torch.float64)
    fans = [net.input_fan_out] + list(net.fan_outs[:-1])
    last = len(net.stages) - 1
    for l, s in enumerate(net.stages):
        flat = h.reshape(len(h), -1)
        ones = _popcount(torch.round(flat * 2.0 ** bits)).double()
        adds += ones @ fans[l].double()
        z = replace(s, weight=s.weight.double(), bias=s.bias.double()).ann_forward(h)
        h = z if l == last else quantize_activation(torch.relu(z), bits)
    shifts = bits * sum(net.n_neurons)
    return {"adds": float(adds.mean()), "shifts": float(shifts), "logits": h}


@torch.no_grad()
def tpc_counts(net: SpikingNetwork, x: torch.Tensor, labels, bits: int) -> dict:
    """Error and operations of an n-bit temporal pattern code version of ``net``.

    Simulated with :mod:`spikescope.codes.pattern` (``CODES["pattern"]``) when it is available and
    supports ``bits``; otherwise counted from the activations' bit patterns
    (:func:`pattern_ops`). Returns error_pct, adds, shifts (per sample) and ops_source.
    """
    from ..sim.network import CODES

    labels = torch.as_tensor(labels)
    shifts = float(bits * sum(net.n_neurons))
    max_bits = getattr(__import__(CODES["pattern"].__module__, fromlist=["MAX_BITS"]),
                       "MAX_BITS", 0) if "pattern" in CODES else 0
    if bits <= max_bits:
        with torch.enable_grad():  # fan-outs are computed with autograd
            tpc = CODES["pattern"](net.stages, net.lambdas, net.params, bits=bits,
                                   input_shape=net.input_shape, dt_ms=net.dt_ms)
        rec = tpc.run(x, record=())
        err = 100 * (1 - float(rec.accuracy_curve(labels.to(rec.output_counts.device))[-1]))
        return {"error_pct": err, "adds": float(rec.synaptic_ops[-1]), "shifts": shifts,
                "ops_source": "spikescope.codes.pattern simulation"}
    p = pattern_ops(net, x, bits)
    err = 100 * (1 - float((p["logits"].argmax(1).cpu() == labels.cpu()).float().mean()))
    return {"error_pct": err, "adds": p["adds"], "shifts": shifts,
            "ops_source": "bit patterns of truncated activations"}


@torch.no_grad()
def table_2_7(net: SpikingNetwork, x: torch.Tensor, labels: torch.Tensor, *,
              act_bits: Sequence[int] = (32, 16, 8), weight_bits: int | None = 8,
              rate_timesteps: int = 50, recording: Recording | None = None) -> pd.DataFrame:
    """The structure of thesis Table 2.7 on ``net``: error and relative cost (eq. 2.32).

    Rows: the ANN with ``b``-bit activations (MAC per connection, add per bias), the rate SNN
    (add per synaptic op over ``rate_timesteps`` steps, add per neuron update), and n-bit
    pattern codes (n <= b; adds = synaptic ops, n shifts per neuron; :func:`tpc_counts`), for
    each activation width b in ``act_bits``; weights have ``weight_bits`` (None: b bits too;
    the thesis' Table 2.7 numbers scale like that, ANN ~4x and rate-SNN 2x per halving of b,
    although its text fixes weights at 8 bits). Unlike the thesis the ANN is not retrained per
    bit width: activations are truncated after training, and the rate SNN (one simulation,
    float state) has the same error in every column. Returns a long table: act_bits, model,
    error_pct, relative_cost, reduction (ANN cost / cost), ops_source.
    """
    labels = torch.as_tensor(labels)
    if recording is None:
        recording = net.run(x, rate_timesteps, record=())
    T = recording.timesteps
    rate_err = 100 * (1 - float(recording.accuracy_curve(labels)[-1]))
    counts = network_counts(net)
    rate_adds = float(recording.synaptic_ops[-1]) + counts.n_neurons * T
    tpc = {n: tpc_counts(net, x, labels, n) for n in act_bits}
    rows = []
    for b in act_bits:
        wb = b if weight_bits is None else weight_bits
        logits = pattern_ops(net, x, b)["logits"] if b < 32 else net.ann_forward(x)
        ann_err = 100 * (1 - float((logits.argmax(1).cpu() == labels.cpu()).float().mean()))
        rows.append({"act_bits": b, "model": "ANN", "error_pct": ann_err,
                     "relative_cost": relative_cost(n_mac=counts.connections,
                                                    n_add=counts.n_biases, act_bits=b,
                                                    weight_bits=wb),
                     "ops_source": "connections and biases"})
        rows.append({"act_bits": b, "model": f"rate-SNN (T={T})", "error_pct": rate_err,
                     "relative_cost": relative_cost(n_add=rate_adds, act_bits=b,
                                                    weight_bits=wb),
                     "ops_source": "rate simulation"})
        for n in act_bits:
            if n > b:
                continue
            p = tpc[n]
            rows.append({"act_bits": b, "model": f"TPC {n} bit", "error_pct": p["error_pct"],
                         "relative_cost": relative_cost(n_add=p["adds"], n_shift=p["shifts"],
                                                        act_bits=b, weight_bits=wb),
                         "ops_source": p["ops_source"]})
    df = pd.DataFrame(rows)
    ann = df[df.model == "ANN"].set_index("act_bits")["relative_cost"]
    df["reduction"] = df["act_bits"].map(ann) / df["relative_cost"]
    return df


def format_table_2_7(df: pd.DataFrame) -> pd.DataFrame:
    """Pivot :func:`table_2_7` to the thesis layout: one row per model, per bit width the
    error [%] and the cost with the reduction factor in parentheses."""
    out = {}
    for b, g in df.groupby("act_bits", sort=False):
        g = g.set_index("model")
        out[(f"{b} bit", "Error [%]")] = g["error_pct"].map("{:.2f}".format)
        out[(f"{b} bit", "Cost")] = pd.Series(
            [f"{c:,.0f} ({r:.1f}x)" if m != "ANN" else f"{c:,.0f}"
             for m, c, r in zip(g.index, g.relative_cost, g.reduction)], index=g.index)
    order = list(dict.fromkeys(df.model))
    return pd.DataFrame(out).reindex(order).fillna("")


# ============================================================================ platforms
SURVEY_SOURCE = ("'Spikes are the next digits' (2024), table of neuromorphic chips, "
                 "column J/SOP")
THESIS_SOURCE = "Rueckauer (2020) thesis, Ch. 3, Table 3.4 (Loihi MNIST: 6.65 ms for 100 steps)"
BLOUW_SOURCE = ("Blouw et al. 2019, 'Benchmarking keyword spotting efficiency on neuromorphic "
                "hardware', NICE '19, Table 1 (two-layer 256-neuron keyword spotter)")


@dataclass(frozen=True)
class Platform:
    """A chip with its published costs.

    energy_per_sop_j: joules per synaptic operation (None for reference rows).
    seconds_per_step: wall-clock seconds per algorithmic time step (None = real time, i.e.
        the recording's dt).
    static_power_w: power drawn regardless of activity, charged as power x delay (0 = only
        the per-SOP energy, as the survey figures are).
    energy_per_inference_j, seconds_per_inference: measured per-inference figures (reference
        rows for conventional hardware, or an ANN platform).
    source, delay_source: where the numbers come from.
    """

    name: str
    energy_per_sop_j: float | None = None
    seconds_per_step: float | None = None
    source: str = "user"
    delay_source: str = ""
    static_power_w: float = 0.0
    energy_per_inference_j: float | None = None
    seconds_per_inference: float | None = None
    kind: str = "neuromorphic"  # or "reference"

    def __post_init__(self) -> None:
        for f in ("energy_per_sop_j", "seconds_per_step", "energy_per_inference_j",
                  "seconds_per_inference"):
            v = getattr(self, f)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"platform {self.name!r}: {f} must be a finite number >= 0 "
                                 f"or None, got {v}")
        if not (math.isfinite(self.static_power_w) and self.static_power_w >= 0):
            raise ValueError(f"platform {self.name!r}: static_power_w must be >= 0")

    def step_s(self, dt_ms: float = 1.0) -> float:
        """Seconds per time step (the recording's dt in real time if the chip has none)."""
        return self.seconds_per_step if self.seconds_per_step is not None else dt_ms * 1e-3


def _chip(name, j_per_sop, *, step=None, delay_source="", note=""):
    src = SURVEY_SOURCE + (f"; {note}" if note else "")
    return Platform(name, j_per_sop, step, src,
                    delay_source or "none published: real time (the recording's dt) assumed")


def _ref(name, energy_j, inf_per_s):
    return Platform(name, source=BLOUW_SOURCE, delay_source=BLOUW_SOURCE + ", 1 / (Inf/Sec)",
                    energy_per_inference_j=energy_j, seconds_per_inference=1.0 / inf_per_s,
                    kind="reference")


_DEFAULT_PLATFORMS = [
    _chip("SpiNNaker-1", 1.13e-8, step=1e-3,
          delay_source="SpiNNaker's default real-time 1 ms simulation time step"),
    _chip("TrueNorth", 4.86e-11, step=1e-3,
          delay_source="TrueNorth's 1 kHz tick (thesis Table 3.4: 1 ms per inference)"),
    _chip("ODIN", 8.40e-12),
    _chip("Loihi", 2.36e-11, step=6.65e-3 / 100, delay_source=THESIS_SOURCE,
          note="row Loihi-1"),
    _chip("Tianjic", 7.82e-13),
    _chip("uBrain", 6.27e-13, note="row µBrain"),
    _chip("SpiNNaker-2", 1.50e-11),
    _chip("Loihi-2", 1.61e-11),
    _chip("ReckOn", 5.47e-12),
    _chip("BrainScaleS-2", 1.00e-11),
    _chip("SNE", 2.21e-13),
    _chip("THOR", 1.40e-12),
    _chip("ANP-I", 1.50e-12),
    _chip("NorthPole", 8.76e-11),
    _chip("Darwin-3", 5.47e-12),
    Platform("Loihi board (thesis MNIST)", 0.0, 6.65e-3 / 100,
             "Rueckauer (2020) thesis Table 3.5: total measured power 1812.41 mW (x86 + "
             "neurocores, static + dynamic) while running MNIST; energy = power x delay",
             THESIS_SOURCE, static_power_w=1.81241),
    _ref("CPU (Blouw 2019)", 6.3e-3, 1813.63),
    _ref("GPU (Blouw 2019)", 29.8e-3, 770.39),
    _ref("Jetson TX1 (Blouw 2019)", 5.6e-3, 419),
    _ref("Movidius NCS (Blouw 2019)", 1.5e-3, 300),
    _ref("Loihi KWS (Blouw 2019)", 0.27e-3, 296),
]

PLATFORMS: dict[str, Platform] = {p.name: p for p in _DEFAULT_PLATFORMS}
"""Platform name -> :class:`Platform`. Edit in place or with :func:`add_platform`."""


def add_platform(name: str, energy_per_sop_j: float | None = None,
                 seconds_per_step: float | None = None, source: str = "user", *,
                 overwrite: bool = False, **fields) -> Platform:
    """Add (or with ``overwrite=True`` replace) a platform in :data:`PLATFORMS`.

    Example: ``add_platform("my-chip", 2e-12, 1e-4, "datasheet v1")``.
    """
    if not name or not isinstance(name, str):
        raise ValueError("a platform needs a non-empty name")
    if name in PLATFORMS and not overwrite:
        raise ValueError(f"platform {name!r} exists; pass overwrite=True or use edit_platform")
    p = Platform(name, energy_per_sop_j, seconds_per_step, source, **fields)
    PLATFORMS[name] = p
    return p


def edit_platform(name: str, **changes) -> Platform:
    """Change fields of an existing platform, e.g. ``edit_platform("Loihi",
    seconds_per_step=5e-5, delay_source="my measurement")``."""
    p = replace(get_platform(name), **changes)
    PLATFORMS[name] = p
    return p


def reset_platforms() -> None:
    """Restore :data:`PLATFORMS` to the sourced defaults."""
    PLATFORMS.clear()
    PLATFORMS.update({p.name: p for p in _DEFAULT_PLATFORMS})


def get_platform(platform: str | Platform) -> Platform:
    """Look up a platform by name (or pass a :class:`Platform` through)."""
    if isinstance(platform, Platform):
        return platform
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; available: {sorted(PLATFORMS)}")
    return PLATFORMS[platform]


def platforms_table() -> pd.DataFrame:
    """All platforms as a table (one row each, with sources)."""
    return pd.DataFrame([asdict(p) for p in PLATFORMS.values()])


# ============================================================================ EDP, trade-off
def edp(energy, delay):
    """Energy-delay product in J*s: energy [J] x delay [s] (Gaudet 2014; thesis Sec. 3.3.1).

    Works on floats and numpy arrays. Example: ``edp(12.06e-3, 6.65e-3)`` = 8.02e-5 J*s.
    """
    e, d = np.asarray(energy, dtype=float), np.asarray(delay, dtype=float)
    if np.any(e < 0) or np.any(d < 0):
        raise ValueError("energy and delay must be non-negative")
    out = e * d
    return float(out) if out.ndim == 0 else out


def _neuromorphic(platform: str | Platform) -> Platform:
    p = get_platform(platform)
    if p.energy_per_sop_j is None:
        raise ValueError(f"platform {p.name!r} has no energy per synaptic op (it is a "
                         f"reference row with per-inference figures); choose a chip")
    return p


def tradeoff(recording: Recording, labels, platform: str | Platform = "Loihi", *,
             seconds_per_step: float | None = None) -> pd.DataFrame:
    """Accuracy, cost and EDP after every time step t (thesis Fig. 3.10).

    Columns: t (steps run, 1..T), accuracy, synaptic_ops (cumulative per sample, batch mean),
    spikes (cumulative per sample), energy_j = synaptic_ops x J/SOP + static power x delay,
    delay_s = t x seconds per step, edp_js = energy_j x delay_s. ``seconds_per_step``
    overrides the platform's. ``df.attrs`` holds the platform name and delay source. Add the
    ANN's point with :func:`ann_point` and an early-decision policy with
    :func:`early_decision`.
    """
    p = _neuromorphic(platform)
    step_s = seconds_per_step if seconds_per_step is not None else p.step_s(recording.dt_ms)
    if not step_s > 0:
        raise ValueError(f"seconds_per_step must be positive, got {step_s}")
    T = recording.timesteps
    t = np.arange(1, T + 1)
    ops = recording.synaptic_ops.double().cpu().numpy()
    spikes = recording.layer_spikes.double().sum(2).mean(1).cumsum(0).cpu().numpy()
    delay = t * step_s
    energy = ops * p.energy_per_sop_j + p.static_power_w * delay
    df = pd.DataFrame({"t": t, "accuracy": recording.accuracy_curve(labels).astype(float),
                       "synaptic_ops": ops, "spikes": spikes, "energy_j": energy,
                       "delay_s": delay, "edp_js": edp(energy, delay)})
    df.attrs.update(platform=p.name, seconds_per_step=step_s,
                    delay_source=p.delay_source if seconds_per_step is None else "user")
    return df


@torch.no_grad()
def ann_point(net: SpikingNetwork, x: torch.Tensor, labels, *,
              cost_model: CostModel = CostModel(),
              platform: str | Platform = "CPU (Blouw 2019)",
              energy_j: float | None = None, delay_s: float | None = None) -> dict:
    """The ANN on the trade-off axes: accuracy, ops (MACs), energy_j, delay_s, edp_js.

    Energy: ``energy_j`` if given, else the Horowitz cost model of this ANN (``cost_model``).
    Delay: ``delay_s`` if given, else the platform's seconds per inference (default: the CPU
    of Blouw et al. 2019, a comparable small network; override for your hardware).
    """
    labels = torch.as_tensor(labels, device=net.device)
    acc = float((net.ann_forward(x).argmax(1) == labels).float().mean())
    counts = network_counts(net)
    p = get_platform(platform)
    energy_source = "given"
    if energy_j is None:
        energy_j = ann_energy_j(counts, cost_model)["energy_j"]
        energy_source = (f"Horowitz 45 nm, {cost_model.arithmetic}, "
                         f"memory {cost_model.memory or 'off'}")
    if delay_s is None:
        delay_s = p.seconds_per_inference
        if delay_s is None:
            raise ValueError(f"platform {p.name!r} has no time per inference; pass delay_s")
    return {"model": "ANN", "accuracy": acc, "synaptic_ops": float(counts.connections),
            "energy_j": float(energy_j), "delay_s": float(delay_s),
            "edp_js": edp(energy_j, delay_s), "energy_source": energy_source,
            "delay_source": p.name if delay_s == p.seconds_per_inference else "given"}


def per_sample_ops(recording: Recording, net: SpikingNetwork | None = None) -> torch.Tensor:
    """(T, B) cumulative synaptic operations of each sample.

    Exact from the spike trains when ``net`` is given and spikes were recorded; otherwise
    each layer's spikes times its batch-mean ops per spike at that step (exact for uniform
    fan-out, e.g. fully connected layers). The input's ops are the batch mean either way.
    """
    spikes = recording.layer_spikes.double()  # (T, B, L)
    ops = recording.layer_ops.double()  # (T, L + 1)
    if net is not None and recording.spike_trains is not None:
        per = sum(tr.double() @ f.double().to(tr.device)
                  for tr, f in zip(recording.spike_trains, net.fan_outs))
    else:
        mean_spikes = spikes.mean(1)
        per_spike = torch.where(mean_spikes > 0, ops[:, 1:] / mean_spikes.clamp(min=1e-12),
                                torch.zeros_like(mean_spikes))
        per = (spikes * per_spike[:, None, :]).sum(2)
    return (per + ops[:, :1]).cumsum(0)


def output_lead(recording: Recording) -> torch.Tensor:
    """(T, B) spikes by which the leading output neuron leads the runner-up."""
    if recording.readout != "spikes":
        raise ValueError("the early-decision policy needs spike-count readout")
    counts = recording.output_counts.float()
    if counts.shape[2] == 1:
        return counts[..., 0]
    top2 = counts.topk(2, dim=2).values
    return top2[..., 0] - top2[..., 1]


def decision_steps(recording: Recording, k: int) -> torch.Tensor:
    """(B,) 0-based step at which each sample's leading output first leads the runner-up by
    ``k`` spikes (the last step if it never does)."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer number of spikes, got {k}")
    decided = output_lead(recording) >= k
    T = recording.timesteps
    first = torch.where(decided.any(0), decided.float().argmax(0),
                        torch.full_like(decided[0], T - 1, dtype=torch.long))
    return first.long()


def early_decision(recording: Recording, labels, k: int, platform: str | Platform = "Loihi",
                   *, net: SpikingNetwork | None = None,
                   seconds_per_step: float | None = None) -> dict:
    """Stop each sample once its output leads by ``k`` spikes; its accuracy and costs.

    Returns k, accuracy, decided (fraction that reached the lead before the run ended),
    mean steps, synaptic_ops, energy_j, delay_s (means over samples) and
    edp_js = energy_j x delay_s of those means (the same convention as :func:`tradeoff`).
    """
    p = _neuromorphic(platform)
    step_s = seconds_per_step if seconds_per_step is not None else p.step_s(recording.dt_ms)
    stop = decision_steps(recording, k)
    B = recording.batch_size
    idx = torch.arange(B, device=stop.device)
    pred = recording.all_predictions()[stop, idx]
    labels = torch.as_tensor(labels, device=pred.device).reshape(-1)
    ops = per_sample_ops(recording, net)[stop.cpu(), idx.cpu()]
    delay = (stop.double().cpu() + 1) * step_s
    energy = ops * p.energy_per_sop_j + p.static_power_w * delay
    decided = output_lead(recording)[stop, idx] >= k
    e, d = float(energy.mean()), float(delay.mean())
    return {"k": int(k), "accuracy": float((pred == labels).float().mean()),
            "decided": float(decided.float().mean()), "steps": float(stop.double().mean() + 1),
            "synaptic_ops": float(ops.mean()), "energy_j": e, "delay_s": d,
            "edp_js": edp(e, d)}


def early_decision_curve(recording: Recording, labels, platform: str | Platform = "Loihi",
                         ks: Iterable[int] = (1, 2, 3, 5, 8, 13, 20), **kw) -> pd.DataFrame:
    """:func:`early_decision` for several k, one row each."""
    return pd.DataFrame([early_decision(recording, labels, k, platform, **kw) for k in ks])


def pareto_front(df: pd.DataFrame, x: str = "edp_js", y: str = "accuracy") -> pd.DataFrame:
    """Rows not dominated by another (lower or equal ``x`` and strictly higher ``y``),
    sorted by ``x``: the best accuracy reachable at each cost."""
    d = df.sort_values([x, y], ascending=[True, False])
    keep, best = [], -np.inf
    for i, v in zip(d.index, d[y].to_numpy()):
        if v > best:
            keep.append(i)
            best = v
    return d.loc[keep]


# ============================================================================ Loihi deployment
@dataclass(frozen=True)
class CoreLimits:
    """Resources per neurocore (thesis Table 3.1, Loihi)."""

    neurons: int = 1024
    input_axons: int = 4096
    output_axons: int = 4096
    synapses: int = 128 * 1024
    cores_per_chip: int = 128


LOIHI_CORE_LIMITS = CoreLimits()
RESOURCES = ("neurons", "input_axons", "output_axons", "synapses")


@dataclass(frozen=True)
class LayerSpec:
    """One population for the core estimate.

    n_neurons; fan_in / fan_out: max synapses into / out of one neuron; n_sources: neurons of
    the previous population; n_weights: distinct weights (kernels stored once if shared).
    """

    name: str
    n_neurons: int
    fan_in: int = 0
    fan_out: int = 0
    n_sources: int = 0
    n_weights: int = 0


def fc_layers(sizes: Sequence[int]) -> list[LayerSpec]:
    """Specs of a fully connected net, e.g. ``fc_layers([1156, 512, 10])`` (input first)."""
    specs = []
    for i, n in enumerate(sizes):
        prev = sizes[i - 1] if i else 0
        nxt = sizes[i + 1] if i + 1 < len(sizes) else 0
        specs.append(LayerSpec("input" if i == 0 else f"fc{i}", int(n), fan_in=int(prev),
                               fan_out=int(nxt), n_sources=int(prev), n_weights=int(prev * n)))
    return specs


def layer_specs(net: SpikingNetwork) -> list[LayerSpec]:
    """Specs of a converted network: the input population, then every spiking layer."""
    n_in = int(np.prod(net.input_shape))
    specs = [LayerSpec("input", n_in, fan_out=int(net.input_fan_out.max()))]
    prev = n_in
    for s, f in zip(net.stages, net.fan_outs):
        fan_in = int(s.weight[0].numel())
        specs.append(LayerSpec(s.name, s.n_neurons, fan_in=fan_in,
                               fan_out=int(f.max()) if f.numel() else 0,
                               n_sources=prev, n_weights=int(s.weight.numel())))
        prev = s.n_neurons
    return specs


def _core_needs(spec: LayerSpec, cores: int, next_cores: int,
                share_weights: bool) -> dict[str, int]:
    m = math.ceil(spec.n_neurons / cores)
    synapses = m * spec.fan_in
    if share_weights and spec.n_weights:
        synapses = min(synapses, spec.n_weights)
    return {"neurons": m,
            "input_axons": min(spec.n_sources, m * spec.fan_in),
            "output_axons": m * min(spec.fan_out, next_cores),
            "synapses": synapses}


def estimate_cores(layers: SpikingNetwork | Sequence[LayerSpec], *,
                   limits: CoreLimits = LOIHI_CORE_LIMITS,
                   share_weights: bool = True) -> pd.DataFrame:
    """Neurocores per layer under per-core limits; the limiting resource named per layer.

    Each layer is spread evenly over the fewest cores that satisfy every limit on every core:
    neurons; synapses = neurons on the core x fan-in (at most the layer's distinct weights
    when ``share_weights``, as Loihi shares convolution kernels); input axons = one per
    presynaptic neuron reaching the core; output axons = one per destination core of each
    neuron (so a layer's axons depend on how the next layer is split: layers are placed from
    the output back). The limiting resource is the one with the highest utilization. Columns:
    layer, n_neurons, cores, limiting, per-core needs and utilizations. ``df.attrs`` holds
    total_cores and chips.
    """
    specs = layer_specs(layers) if isinstance(layers, SpikingNetwork) else list(layers)
    lim = asdict(limits)
    rows = []
    next_cores = 0
    for spec in reversed(specs):
        cores = max(1, math.ceil(spec.n_neurons / limits.neurons))
        while True:
            need = _core_needs(spec, cores, next_cores, share_weights)
            if all(need[r] <= lim[r] for r in RESOURCES):
                break
            if need["neurons"] <= 1:
                bad = [r for r in RESOURCES if need[r] > lim[r]]
                raise ValueError(f"layer {spec.name}: one neuron per core still exceeds the "
                                 f"{', '.join(bad)} limit")
            cores += 1
        util = {r: need[r] / lim[r] for r in RESOURCES}
        row = {"layer": spec.name, "n_neurons": spec.n_neurons, "cores": cores,
               "limiting": max(util, key=util.get)}
        row.update({f"{r}_per_core": need[r] for r in RESOURCES})
        row.update({f"{r}_util": util[r] for r in RESOURCES})
        rows.append(row)
        next_cores = cores
    df = pd.DataFrame(rows[::-1])
    total = int(df.cores.sum())
    df.attrs.update(total_cores=total, chips=math.ceil(total / limits.cores_per_chip))
    return df


@dataclass
class LoihiDeployment:
    """A network quantized Loihi-style, with its core estimate.

    net: the quantized network (weights W_int * 2^-e, equivalent to integer weights with
        integer thresholds ``thresholds``); weight_exponents: e per layer; weights_int /
        biases_int: the integers; cores: :func:`estimate_cores` table;
        accuracy_float / accuracy_quantized: SNN accuracies after the run (if data given).
    """

    net: SpikingNetwork
    weight_exponents: list[int]
    weights_int: list[torch.Tensor]
    biases_int: list[torch.Tensor]
    thresholds: list[int]
    cores: pd.DataFrame
    accuracy_float: float | None = None
    accuracy_quantized: float | None = None

    @property
    def total_cores(self) -> int:
        return int(self.cores.attrs["total_cores"])


def quantize_weights(net: SpikingNetwork, *, weight_bits: int = 8,
                     bias_bits: int = 13) -> tuple[SpikingNetwork, dict]:
    """Integer weights with a per-layer power-of-two exponent (Loihi style).

    Per layer, e is the largest integer with max|W| 2^e <= 2^(bits-1) - 1;
    W_int = round(W 2^e) (signed ``weight_bits``), b_int = round(b 2^e) clipped to signed
    ``bias_bits``, threshold_int = round(threshold 2^e). The returned network runs W_int and
    b_int scaled by threshold / threshold_int, which fires exactly like the integer network.
    """
    if weight_bits < 2 or bias_bits < 2:
        raise ValueError("weight_bits and bias_bits must be at least 2")
    qmax, bmax = 2 ** (weight_bits - 1) - 1, 2 ** (bias_bits - 1) - 1
    thr = net.params.threshold
    stages, exps, w_ints, b_ints, thrs = [], [], [], [], []
    for s in net.stages:
        wmax = float(s.weight.abs().max())
        e = math.floor(math.log2(qmax / wmax)) if wmax > 0 else 0
        scale = 2.0 ** e
        w_int = torch.round(s.weight * scale).clamp(-qmax, qmax)
        b_int = torch.round(s.bias * scale).clamp(-bmax, bmax)
        thr_int = max(1, round(thr * scale))
        back = thr / thr_int
        stages.append(replace(s, weight=w_int * back, bias=b_int * back, pre=list(s.pre)))
        exps.append(e)
        w_ints.append(w_int.to(torch.int32))
        b_ints.append(b_int.to(torch.int32))
        thrs.append(int(thr_int))
    qnet = copy.copy(net)
    qnet.stages = stages
    qnet._state = []
    return qnet, {"weight_exponents": exps, "weights_int": w_ints, "biases_int": b_ints,
                  "thresholds": thrs}


def deploy_loihi(net: SpikingNetwork, x: torch.Tensor | None = None, labels=None, *,
                 timesteps: int = 100, weight_bits: int = 8,
                 limits: CoreLimits = LOIHI_CORE_LIMITS, recording: Recording | None = None,
                 **run_options) -> LoihiDeployment:
    """Quantize ``net`` Loihi-style, estimate its neurocores and (given data) the accuracy of
    the float and the quantized SNN after ``timesteps`` steps (``recording``: a float run of
    ``net`` on ``x`` to reuse, of at least ``timesteps`` steps)."""
    qnet, q = quantize_weights(net, weight_bits=weight_bits)
    acc_f = acc_q = None
    if x is not None and labels is not None:
        if recording is None or recording.timesteps < timesteps:
            recording = net.run(x, timesteps, record=(), **run_options)
        acc_f = float(recording.accuracy_curve(labels)[timesteps - 1])
        acc_q = float(qnet.run(x, timesteps, record=(),
                               **run_options).accuracy_curve(labels)[-1])
    return LoihiDeployment(qnet, cores=estimate_cores(qnet, limits=limits),
                           accuracy_float=acc_f, accuracy_quantized=acc_q, **q)
