"""The layer-by-layer path of :meth:`SpikingNetwork.run`: one layer at a time over all T steps.

With zero-delay propagation in a feed-forward net, layer l's input over the whole run is
known once layer l-1's spike train is: one product over all T*B rows gives every current of
the layer, and only the membrane recursion is sequential. That recursion is the neuron
model's ``run_layer`` (the IF/LIF model runs it in one compiled loop,
:mod:`spikescope.neurons.numba_kernel`; any other model steps its own update T times).

The result equals stepping bit for bit: the currents are exact sums
(:mod:`spikescope.sim.exact`), so one product over T*B rows equals T products of B rows, and
the recursion is the same float32 arithmetic. Where that cannot hold ``run`` steps instead:
graded spikes or an average pool that takes spikes off the grid, a spike code with its own
per-step behaviour (``Code.layerwise()`` is False), ``fused_kernels = False``, and off the
CPU (GPU convolutions may round inputs to TF32, which the exact-sum grid does not cover).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm.auto import tqdm

from ..codes import gate_max
from .graph import INPUT, gather
from .stages import Stage, avg_pool

if TYPE_CHECKING:
    from .network import SpikingNetwork

MAX_ELEMENTS = 12_000_000
"""Largest T * B * (neurons of all layers) run layer by layer: beyond it the per-layer
(T, B, N) tensors outgrow the caches and stepping (time-outer) is faster (measured on digits-cnn
and an MLP 784-512-512-10, benchmarks/README.md)."""


def stateless_input(stage: Stage) -> bool:
    """Whether ``stage``'s current is a function of this step's input alone: one term (no
    branches) and no (spiking, stateful) max-pool."""
    return not stage.branches and not any(isinstance(p, (nn.MaxPool1d, nn.MaxPool2d))
                                          for p in stage.pre)


def applicable(net: SpikingNetwork, timesteps: int, batch: int) -> bool:
    """Whether ``net.run`` may take the layer-by-layer path (same result, faster)."""
    if not (net.fused_kernels and net.spike_code.layerwise() and net.device.type == "cpu"):
        return False
    if not all(m.binary for m in net.layer_neurons) or any(g is None for g in net.grids[1:]):
        return False
    if net.stages[0].branches:
        return False
    return timesteps * batch * sum(net.n_neurons) <= MAX_ELEMENTS


def _apply_pre(net: SpikingNetwork, key: int | tuple[int, int], pre: list[nn.Module],
               h: torch.Tensor) -> torch.Tensor:
    """A term's pre ops on all steps at once, h (T, B, ...); the spiking max-pool gate uses
    the running counts of every step (and leaves the final counts for later step() calls,
    under the key :meth:`Code.apply_pre` uses: layer l or (l, branch j))."""
    T, B = h.shape[:2]
    for i, op in enumerate(pre):
        if isinstance(op, (nn.MaxPool1d, nn.MaxPool2d)):
            counts = h.cumsum(0)
            net.run_state.pool_counts[(key, i)] = counts[-1].clone()
            h = gate_max(counts.flatten(0, 1), op, h.flatten(0, 1))
        elif isinstance(op, nn.AvgPool2d):
            h = avg_pool(op, h.flatten(0, 1))
        else:
            h = op(h.flatten(0, 1))
        h = h.unflatten(0, (T, B))
    return h


def _term_current(net: SpikingNetwork, key: int | tuple[int, int], term: Stage,
                  trains: dict[int, torch.Tensor], *, bias: bool) -> torch.Tensor:
    """One synaptic term's current over all steps, (T, B, ...)."""
    h = _apply_pre(net, key, term.pre, gather(trains, term.sources, dim=2))
    T, B = h.shape[:2]
    return term.synapse(h.flatten(0, 1), bias=bias).unflatten(0, (T, B))


@torch.no_grad()
def run(net: SpikingNetwork, inputs: torch.Tensor, first_current: torch.Tensor | None,
        input_ops: torch.Tensor | None, *, progress: bool = False) -> None:
    """Simulate the encoded ``inputs`` (T, B, ...) layer by layer on ``net``, just reset for
    B samples; equals stepping them. ``first_current`` and ``input_ops``: the input layer's
    current and operations of every step, where :meth:`SpikingNetwork.run` computed them
    once for a constant input (as it passes them to each step), else None. The result is in
    ``net.run_state`` (its recorder and final neuron states)."""
    run_state, code = net.run_state, net.spike_code
    T, B = inputs.shape[:2]
    if input_ops is not None:
        in_ops = input_ops.expand(T)
    else:
        in_ops = (torch.ceil(inputs.abs()).reshape(T, B, -1) @ net.input_fan_out).mean(1)
    if first_current is not None:
        current = first_current.unsqueeze(0)  # (1, B, ...): the same every step
    else:
        current = torch.stack([code.layer_current(run_state, 0, inputs[t]) for t in range(T)])
    last, trains = len(net.stages) - 1, {INPUT: inputs}
    synapses, last_use = net.simulated_stages, net._last_use
    layers = range(len(net.stages))
    for l in tqdm(layers, desc="simulating layers", leave=False) if progress else layers:
        if l:
            syn = synapses[l]
            current = _term_current(net, l, syn, trains, bias=True)
            for j, br in enumerate(syn.branches):
                current = current + _term_current(net, (l, j), br, trains, bias=False)
        integrate_only = l == last and net.readout == "membrane"
        layer = net.layer_neurons[l].run_layer(
            current, run_state.neurons[l], T, clamp=min(net.clamp_delay * l, T),
            integrate_only=integrate_only, fan=net.fan_outs[l],
            trace=l == last or run_state.recorder.wants_membrane(l))
        run_state.neurons[l] = layer.state
        run_state.recorder.add_layer_run(l, layer)
        trains[l] = layer.spikes
        for i in [i for i in trains if last_use.get(i, last) <= l]:
            del trains[i]  # no later stage reads it
    run_state.recorder.end_run(in_ops)
    run_state.t = T
