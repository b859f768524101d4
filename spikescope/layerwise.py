"""The all-steps fast path of :meth:`SpikingNetwork.run`: one layer at a time over all T steps.

With zero-delay propagation in a feed-forward net, layer l's input over the whole run is
known once layer l-1's spike train is: one product over all T*B rows gives every current of
the layer, and only the membrane recursion is sequential. That recursion runs in one compiled
loop (numba) over the layer's neurons and steps, with the float32 operations of
:func:`spikescope.neurons.if_step` in the same order.

The result equals stepping bit for bit: the currents are exact sums
(:mod:`spikescope.exact`), so one product over T*B rows equals T products of B rows, and the
recursion is the same IEEE float32 arithmetic. Where that cannot hold (graded spikes or an
average pool that takes spikes off the grid, network classes with their own neuron update)
``run`` steps instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .neurons import NeuronState, if_step, init_state
from .recording import Recording

MAX_ELEMENTS = 2_000_000
"""Largest T * B * (neurons of the widest layer) run layer by layer: beyond it the per-layer
(T, B, N) tensors outgrow the caches and stepping (time-outer) is faster."""


def applicable(net, timesteps: int, batch: int) -> bool:
    """Whether ``net.run`` may take the layer-by-layer path (same result, faster)."""
    from .network import SpikingNetwork

    cls = type(net)
    if any(getattr(cls, m) is not getattr(SpikingNetwork, m)
           for m in ("_step", "_neuron_step", "_layer_current", "_apply_pre")):
        return False
    if net.params.graded or any(g is None for g in net._grids[1:]):
        return False
    return timesteps * batch * max(net.n_neurons) <= MAX_ELEMENTS


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
        else:
            h = op(h.flatten(0, 1))
        h = h.unflatten(0, (T, B))
    return h


@numba.njit(cache=True, nogil=True)
def _recursion(current, v, refrac, spikes, trace, thr, leak, zero_reset, refractory, clamp,
               integrate_only):  # pragma: no cover - compiled; equality tests cover it
    """if_step over all steps: current (T, K) float32 -> spikes, trace (T, K); v, refrac (K,)
    hold the state and end as the final state. Same float32 operations, same order."""
    T, K = current.shape
    zero = np.float32(0.0)  # every value float32: numba would widen a float64 literal
    for t in range(clamp, T):
        for k in range(K):
            x = v[k]
            if leak != 1.0 and not integrate_only:
                x = x * leak
            active = refrac[k] <= 0
            if active:
                x = x + current[t, k]
            if integrate_only:
                v[k] = x
                continue
            s = x >= thr and active
            if s:
                x = zero if zero_reset else x - thr
                spikes[t, k] = 1.0
            v[k] = x
            if refractory:
                r = refrac[k] - 1
                refrac[k] = refractory if s else max(r, 0)
        trace[t] = v
    return None


def _layer(net, l: int, current: torch.Tensor):
    """Spikes, membrane (T, B, ...) and final state of layer l driven by ``current``."""
    p = net.params
    T, shape = current.shape[0], current.shape[1:]
    clamp = min(net.clamp_delay * l, T)
    integrate_only = l == len(net.stages) - 1 and net.readout == "membrane"
    state = init_state(tuple(shape), p, device=current.device)
    if current.device.type != "cpu":
        return _stepped(p, current, state, clamp, integrate_only)
    spikes, trace = torch.zeros(current.shape), torch.zeros(current.shape)
    refrac = state.refrac if state.refrac is not None else torch.zeros(shape, dtype=torch.int32)
    f32 = np.float32
    _recursion(current.reshape(T, -1).contiguous().numpy(), state.v.view(-1).numpy(),
               refrac.view(-1).numpy(), spikes.view(T, -1).numpy(), trace.view(T, -1).numpy(),
               f32(p.threshold), f32(p.leak), p.reset == "zero", int(p.refractory), clamp,
               integrate_only)
    return spikes, trace, state


def _stepped(params, current: torch.Tensor, state: NeuronState, clamp: int,
             integrate_only: bool):
    """The recursion with torch operations, step by step (devices other than the CPU)."""
    spikes = torch.zeros(current.shape, device=current.device)
    trace = torch.zeros(current.shape, device=current.device)
    for t in range(clamp, current.shape[0]):
        if integrate_only:
            state.v.add_(current[t])
        else:
            spikes[t] = if_step(state, current[t], params)[0]
        trace[t] = state.v
    return spikes, trace, state


@torch.no_grad()
def run(net, inputs: torch.Tensor, *, constant: bool, record: Sequence[str],
        neurons: Mapping[int, Sequence[int]] | None, progress: bool = False) -> Recording:
    """Simulate the encoded ``inputs`` (T, B, ...) layer by layer; equals stepping them.

    constant: every step's input is the same (analog encoding), so the input layer's current
    and operations are computed once.
    """
    T, B = inputs.shape[:2]
    net.reset(B, record=record, neurons=neurons)
    has_pool0 = any(isinstance(op, nn.MaxPool2d) for op in net.stages[0].pre)
    if constant:
        in_ops = net.input_ops(inputs[0]).expand(T)
    else:
        flat = torch.ceil(inputs.abs()).reshape(T, B, -1)
        in_ops = (flat @ net.input_fan_out).mean(1)
    if constant and not has_pool0:
        current = net._layer_current(0, inputs[0])
        current = current.expand(T, *current.shape)
    else:
        current = torch.stack([net._layer_current(0, inputs[t]) for t in range(T)])
    stats, last, spikes = [], len(net.stages) - 1, inputs
    for l in tqdm(range(len(net.stages)), disable=not progress, desc="simulating layers",
                  leave=False):
        if l:
            h = _apply_pre(net, l, spikes)
            current = net._synapses[l].synapse(h.flatten(0, 1)).unflatten(0, (T, B))
        spikes, v, net._state[l] = _layer(net, l, current)
        flat = spikes.reshape(T, B, -1)
        counts = flat.sum(0) if l != last else flat.cumsum(0)
        net._counts[l] = counts if l != last else counts[-1].clone()
        stats.append(flat @ net._count_ops[l])
        if "spikes" in net._record:
            net._trains[l] = list((flat > 0).unbind(0))
        if net._mem_idx is not None and len(net._mem_idx[l]):
            net._mem[l] = list(v.reshape(T, B, -1)[..., net._mem_idx[l]].unbind(0))
        if l == last:
            net._out_counts = list(counts.unbind(0))
            net._out_v = list(v.reshape(T, B, -1).unbind(0))
    net._layer_stats = list(torch.stack(stats, 2).unbind(0))
    net._input_ops = list(in_ops.unbind(0))
    net._t = T
    return net.recording
