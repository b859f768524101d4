"""Loihi-style deployment estimate: neurocores per layer under the per-core limits of thesis
Table 3.1, and 8-bit weights with a per-layer power-of-two exponent."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from ..sim.graph import INPUT
from ..sim.network import SpikingNetwork
from ..sim.recording import Recording
from ..sim.stages import fan_in as exact_fan_in


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
    the populations it reads; n_weights: distinct weights (kernels stored once if shared);
    targets: indices (in the list of specs) of the populations it sends to, None for the next
    one (a chain).
    """

    name: str
    n_neurons: int
    fan_in: int = 0
    fan_out: int = 0
    n_sources: int = 0
    n_weights: int = 0
    targets: tuple[int, ...] | None = None


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
    """Specs of a converted network: the input population, then every spiking layer. On a
    graph a layer reads every population its terms read (fan-in summed over the terms, the
    exact count at the best-connected neuron) and sends to every layer that reads it."""
    n_in = int(np.prod(net.input_shape))
    sizes = {INPUT: n_in, **{l: s.n_neurons for l, s in enumerate(net.stages)}}
    readers: dict[int, list[int]] = {i: [] for i in sizes}
    for l, s in enumerate(net.stages):
        for src in dict.fromkeys(i for t in s.terms() for i in t.sources):
            readers[src].append(l + 1)  # spec index: the input is spec 0
    specs = [LayerSpec("input", n_in, fan_out=int(net.input_fan_out.max()),
                       targets=tuple(readers[INPUT]))]
    for l, (s, f) in enumerate(zip(net.stages, net.fan_outs)):
        sources = dict.fromkeys(i for t in s.terms() for i in t.sources)
        specs.append(LayerSpec(s.name, s.n_neurons, fan_in=int(exact_fan_in(s).max()),
                               fan_out=int(f.max()) if f.numel() else 0,
                               n_sources=sum(sizes[i] for i in sources),
                               n_weights=sum(int(t.weight.numel()) for t in s.terms()),
                               targets=tuple(readers[l])))
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
    neuron (so a layer's axons depend on how the layers it sends to are split: layers are
    placed from the output back; a chain sends to the next layer, a graph's layer to every
    layer in its spec's ``targets``). The limiting resource is the one with the highest
    utilization. Columns: layer, n_neurons, cores, limiting, per-core needs and
    utilizations. ``df.attrs`` holds total_cores and chips.
    """
    specs = layer_specs(layers) if isinstance(layers, SpikingNetwork) else list(layers)
    lim = asdict(limits)
    rows = []
    placed: dict[int, int] = {}
    for i in reversed(range(len(specs))):
        spec = specs[i]
        targets = (i + 1,) if spec.targets is None and i + 1 < len(specs) else spec.targets or ()
        if any(t not in placed for t in targets):
            raise ValueError(f"layer {spec.name}: targets {targets} must name later layers "
                             f"(indices {i + 1}..{len(specs) - 1})")
        next_cores = sum(placed[t] for t in targets)
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
        placed[i] = cores
    df = pd.DataFrame(rows[::-1])
    total = int(df.cores.sum())
    df.attrs.update(total_cores=total, chips=math.ceil(total / limits.cores_per_chip))
    return df


@dataclass
class LoihiDeployment:
    """A network quantized Loihi-style, with its core estimate.

    net: the quantized network (weights W_int * 2^-e, equivalent to integer weights with
        integer thresholds ``thresholds``); weight_exponents: e per layer; weights_int /
        biases_int: the integers (each layer's own term); branches_int: per layer the integer
        weights of its further terms (residual shortcuts; empty lists on a chain), on the same
        exponent; cores: :func:`estimate_cores` table;
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
    branches_int: list[list[torch.Tensor]] = field(default_factory=list)

    @property
    def total_cores(self) -> int:
        return int(self.cores.attrs["total_cores"])


def quantize_weights(net: SpikingNetwork, *, weight_bits: int = 8,
                     bias_bits: int = 13) -> tuple[SpikingNetwork, dict]:
    """Integer weights with a per-layer power-of-two exponent (Loihi style).

    Per layer, e is the largest integer with max|W| 2^e <= 2^(bits-1) - 1, W over all the
    layer's synaptic terms (its branches add into the same membranes, against one integer
    threshold, so they share the exponent); W_int = round(W 2^e) (signed ``weight_bits``),
    b_int = round(b 2^e) clipped to signed ``bias_bits``, threshold_int = round(threshold 2^e).
    The returned network runs W_int and b_int scaled by threshold / threshold_int, which fires
    exactly like the integer network.
    """
    if weight_bits < 2 or bias_bits < 2:
        raise ValueError("weight_bits and bias_bits must be at least 2")
    qmax, bmax = 2 ** (weight_bits - 1) - 1, 2 ** (bias_bits - 1) - 1
    thr = net.params.threshold
    stages, exps, w_ints, b_ints, thrs, br_ints = [], [], [], [], [], []
    for s in net.stages:
        wmax = max(float(t.weight.abs().max()) for t in s.terms())
        e = math.floor(math.log2(qmax / wmax)) if wmax > 0 else 0
        scale = 2.0 ** e
        ints = [torch.round(t.weight * scale).clamp(-qmax, qmax) for t in s.terms()]
        b_int = torch.round(s.bias * scale).clamp(-bmax, bmax)
        thr_int = max(1, round(thr * scale))
        back = thr / thr_int
        stages.append(s.copy(weight=ints[0] * back, bias=b_int * back, branches=[
            b.copy(weight=w * back) for b, w in zip(s.branches, ints[1:])]))
        exps.append(e)
        w_ints.append(ints[0].to(torch.int32))
        br_ints.append([w.to(torch.int32) for w in ints[1:]])
        b_ints.append(b_int.to(torch.int32))
        thrs.append(int(thr_int))
    qnet = copy.deepcopy(net)
    qnet.stages = stages  # also rebuilds what is simulated
    return qnet, {"weight_exponents": exps, "weights_int": w_ints, "biases_int": b_ints,
                  "thresholds": thrs, "branches_int": br_ints}


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
