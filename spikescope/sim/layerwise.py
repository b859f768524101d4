"""The all-steps fast path of :meth:`SpikingNetwork.run`: one layer at a time over all T steps.

With zero-delay propagation in a feed-forward net, layer l's input over the whole run is
known once layer l-1's spike train is: one product over all T*B rows gives every current of
the layer, and only the membrane recursion is sequential. That recursion runs in one compiled
loop over the layer's neurons and steps (:func:`spikescope.kernels.integrate`).

The result equals stepping bit for bit: the currents are exact sums
(:mod:`spikescope.exact`), so one product over T*B rows equals T products of B rows, and the
recursion is the same IEEE float32 arithmetic. Where that cannot hold (graded spikes or an
average pool that takes spikes off the grid, network classes with their own neuron update)
``run`` steps instead; also off the CPU (untested there: GPU convolutions may round inputs
to TF32, which the exact-sum grid does not cover).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..neurons import init_state
from ..neurons.numba_kernel import NO_TRACE, integrate
from .recording import Recording
from .stages import avg_pool

MAX_ELEMENTS = 12_000_000
"""Largest T * B * (neurons of all layers) run layer by layer: beyond it the per-layer
(T, B, N) tensors outgrow the caches and stepping (time-outer) is faster (measured on digits-cnn
and an MLP 784-512-512-10, benchmarks/README.md)."""


def applicable(net, timesteps: int, batch: int) -> bool:
    """Whether ``net.run`` may take the layer-by-layer path (same result, faster)."""
    if not (net.fused_kernels and _plain_update(type(net)) and net.device.type == "cpu"):
        return False
    if net.params.graded or any(g is None for g in net._grids[1:]):
        return False
    return timesteps * batch * sum(net._n_neurons) <= MAX_ELEMENTS


@functools.cache
def _plain_update(cls: type) -> bool:
    """``cls`` steps like SpikingNetwork (no subclass hooks into the update or the currents)."""
    from .network import SpikingNetwork

    return all(getattr(cls, m) is getattr(SpikingNetwork, m)
               for m in ("_step", "_neuron_step", "_layer_current", "_apply_pre"))


def _apply_pre(net, l: int, h: torch.Tensor) -> torch.Tensor:
    """Layer l's pre ops on all steps at once, h (T, B, ...); the spiking max-pool gate uses
    the running counts of every step (and leaves the final counts for later step() calls)."""
    T, B = h.shape[:2]
    for i, op in enumerate(net.stages[l].pre):
        if isinstance(op, nn.MaxPool2d):
            counts = h.cumsum(0)
            net._pool_counts[(l, i)] = counts[-1].clone()
            _, idx = F.max_pool2d(counts.flatten(0, 1), op.kernel_size, op.stride, op.padding,
                                  return_indices=True)
            h = h.flatten(0, 1).flatten(2).gather(2, idx.flatten(2)).view_as(idx)
        elif isinstance(op, nn.AvgPool2d):
            h = avg_pool(op, h.flatten(0, 1))
        else:
            h = op(h.flatten(0, 1))
        h = h.unflatten(0, (T, B))
    return h


def _layer(net, l: int, current: torch.Tensor, T: int, trace: bool):
    """Layer l driven by ``current`` (T or 1, B, ...): spikes (T, B, ...), membrane trace
    (T, B, N) or None, counts (B, N), stats (T, B, 2) and the final neuron state."""
    p = net.params
    shape = current.shape[1:]
    B, N = shape[0], net._n_neurons[l]
    clamp = min(net.clamp_delay * l, T)
    integrate_only = l == len(net.stages) - 1 and net.readout == "membrane"
    state = init_state(tuple(shape), p)
    spikes = torch.empty((T, *shape))
    v_trace = torch.empty((T, B, N)) if trace else None
    counts, stats = torch.zeros(B, N), torch.zeros(T, B, 2)
    integrate(current.reshape(len(current), -1).contiguous(), state, p, spikes.view(T, -1),
              NO_TRACE if v_trace is None else v_trace.view(T, -1), counts.view(-1), stats,
              net._fan_int[l], clamp, integrate_only)
    return spikes, v_trace, counts, stats, state


@torch.no_grad()
def run(net, inputs: torch.Tensor, first_current: torch.Tensor | None,
        input_ops: torch.Tensor | None, *, progress: bool = False) -> Recording:
    """Simulate the encoded ``inputs`` (T, B, ...) layer by layer on ``net``, just reset for
    B samples; equals stepping them. ``first_current`` and ``input_ops``: the input layer's
    current and operations of every step, where :meth:`SpikingNetwork.run` computed them
    once for a constant input (as it passes them to each step), else None."""
    T, B = inputs.shape[:2]
    if input_ops is not None:
        in_ops = input_ops.expand(T)
    else:
        in_ops = (torch.ceil(inputs.abs()).reshape(T, B, -1) @ net.input_fan_out).mean(1)
    if first_current is not None:
        current = first_current.unsqueeze(0)  # (1, B, ...): the same every step
    else:
        current = torch.stack([net._layer_current(0, inputs[t]) for t in range(T)])
    stats, last, spikes = [], len(net.stages) - 1, inputs
    layers = range(len(net.stages))
    for l in tqdm(layers, desc="simulating layers", leave=False) if progress else layers:
        if l:
            h = _apply_pre(net, l, spikes)
            current = net._synapses[l].synapse(h.flatten(0, 1)).unflatten(0, (T, B))
        record_v = l == last or (net._mem_idx is not None and len(net._mem_idx[l]) > 0)
        spikes, v, net._counts[l], layer_stats, net._state[l] = _layer(net, l, current, T,
                                                                     record_v)
        stats.append(layer_stats)
        if "spikes" in net._record:
            net._trains[l] = [spikes.reshape(T, B, -1) > 0]
        if net._mem_idx is not None and len(net._mem_idx[l]):
            net._mem[l] = [v[..., net._mem_idx[l]]]
        if l == last:
            net._out_counts = [spikes.reshape(T, B, -1).cumsum(0)]
            net._out_v = [v]
    net._layer_stats = [torch.stack(stats, 2)]
    net._input_ops = [in_ops]
    net._t = T
    return net.recording
