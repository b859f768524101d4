"""The layer-by-layer path of :meth:`SpikingNetwork.run`: layer by layer over blocks of steps.

With zero-delay propagation, layer l's input over steps [t0, t1) is known once its sources'
spikes over [t0, t1) are. So a run goes block by block (k steps at a time) and, within a
block, layer by layer: one product over all k*B rows gives every current of the layer for
the block, and only the membrane recursion is sequential. That recursion is the neuron
model's ``run_layer`` (the IF/LIF model runs it in one compiled loop on the CPU,
:mod:`spikescope.neurons.numba_kernel`; elsewhere, and for any other model, the model's own
torch step k times). Each layer's neuron state and the spiking max-pool gates' running
counts carry from block to block. k is chosen so a block's (k, B, N) tensors stay within
:data:`BLOCK_ELEMENTS`: one path for every size, without the large (T, B, N) tensors that
outgrow the caches and the memory.

The result equals stepping bit for bit: the currents are exact sums
(:mod:`spikescope.sim.exact`), so one product over k*B rows equals k products of B rows
whatever k is, and the recursion is the same float32 arithmetic. Where that cannot hold
``run`` steps instead: graded spikes or an average pool that takes spikes off the grid, a
spike code with its own per-step behaviour (``Code.layerwise()`` is False), or
``fused_kernels = False``. On a GPU both paths run with TF32 off (:func:`float32_exact`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn
from tqdm.auto import tqdm

from ..codes import gate_max
from .graph import INPUT, gather
from .stages import Stage, avg_pool

if TYPE_CHECKING:
    from .network import SpikingNetwork

BLOCK_ELEMENTS = 16_000_000
"""Largest k * B * (widest layer's neurons or inputs) of one block: the block size k of a run
is the most steps that fit (at least 1, at most T); measured in benchmarks/README.md."""


def stateless_input(stage: Stage) -> bool:
    """Whether ``stage``'s current is a function of this step's input alone: one term (no
    branches) and no (spiking, stateful) max-pool."""
    return not stage.branches and not any(isinstance(p, (nn.MaxPool1d, nn.MaxPool2d))
                                          for p in stage.pre)


def applicable(net: SpikingNetwork, timesteps: int = 1, batch: int = 1) -> bool:
    """Whether ``net.run`` may take the layer-by-layer path (same result, faster): binary
    spikes, every spike-fed layer on its exact-sum grid, a code with the base per-step
    hooks, and ``fused_kernels``; any number of steps and samples (``timesteps`` and
    ``batch`` are accepted for callers that ask about a run)."""
    if not (net.fused_kernels and net.spike_code.layerwise()):
        return False
    if not all(m.binary for m in net.layer_neurons) or any(g is None for g in net.grids[1:]):
        return False
    return not net.stages[0].branches


def widest(net: SpikingNetwork) -> int:
    """Largest number of elements per sample and step of any layer's neurons or input."""
    sizes = list(net.n_neurons)
    for s in net.stages:
        for term in s.terms():
            n = 1
            for d in term.in_shape:
                n *= d
            sizes.append(n)
    return max(sizes)


def block_size(net: SpikingNetwork, timesteps: int, batch: int) -> int:
    """Steps per block: the most whose (k, B, widest) tensors fit :data:`BLOCK_ELEMENTS`."""
    return max(1, min(int(timesteps), BLOCK_ELEMENTS // (int(batch) * widest(net))))


_NEW_TF32_API = hasattr(torch.backends.cuda.matmul, "fp32_precision") and \
    hasattr(torch.backends.cudnn, "conv")


@contextlib.contextmanager
def float32_exact() -> Iterator[None]:
    """Within: float32 products and convolutions in IEEE float32 (no TF32 on CUDA), which
    the exact-sum grid needs; the previous settings are restored on exit."""
    if _NEW_TF32_API:  # reading the legacy flags after the new API was used raises
        mm, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
        saved = mm.fp32_precision, conv.fp32_precision
        mm.fp32_precision = conv.fp32_precision = "ieee"
    else:
        mm, conv = torch.backends.cuda.matmul, torch.backends.cudnn
        saved = mm.allow_tf32, conv.allow_tf32
        mm.allow_tf32 = conv.allow_tf32 = False
    try:
        yield
    finally:
        if _NEW_TF32_API:
            mm.fp32_precision, conv.fp32_precision = saved
        else:
            mm.allow_tf32, conv.allow_tf32 = saved


def _apply_pre(net: SpikingNetwork, key: int | tuple[int, int], pre: list[nn.Module],
               h: torch.Tensor) -> torch.Tensor:
    """A term's pre ops on a block of steps at once, h (k, B, ...); the spiking max-pool gate
    adds the block's running counts to those carried from earlier steps (and keeps the new
    totals, under the key :meth:`Code.apply_pre` uses: layer l or (l, branch j))."""
    k, B = h.shape[:2]
    for i, op in enumerate(pre):
        if isinstance(op, (nn.MaxPool1d, nn.MaxPool2d)):
            counts = h.cumsum(0)
            carried = net.run_state.pool_counts.get((key, i))
            if carried is not None:
                counts += carried  # integer counts: exact in any order
            net.run_state.pool_counts[(key, i)] = counts[-1].clone()
            h = gate_max(counts.flatten(0, 1), op, h.flatten(0, 1))
        elif isinstance(op, nn.AvgPool2d):
            h = avg_pool(op, h.flatten(0, 1))
        else:
            h = op(h.flatten(0, 1))
        h = h.unflatten(0, (k, B))
    return h


def _term_current(net: SpikingNetwork, key: int | tuple[int, int], term: Stage,
                  trains: dict[int, torch.Tensor], *, bias: bool) -> torch.Tensor:
    """One synaptic term's current over a block of steps, (k, B, ...)."""
    h = _apply_pre(net, key, term.pre, gather(trains, term.sources, dim=2))
    k, B = h.shape[:2]
    return term.synapse(h.flatten(0, 1), bias=bias).unflatten(0, (k, B))


@torch.no_grad()
def run(net: SpikingNetwork, inputs: torch.Tensor, first_current: torch.Tensor | None,
        input_ops: torch.Tensor | None, *, progress: bool = False,
        block: int | None = None) -> None:
    """Simulate the encoded ``inputs`` (T, B, ...) on ``net``, just reset for B samples,
    layer by layer in blocks of ``block`` steps (None: :func:`block_size`); equals stepping
    them. ``first_current`` and ``input_ops``: the input layer's current and operations of
    every step, where :meth:`SpikingNetwork.run` computed them once for a constant input (as
    it passes them to each step), else None. The result is in ``net.run_state`` (its
    recorder and final neuron states)."""
    T, B = inputs.shape[:2]
    k = block_size(net, T, B) if block is None else max(1, min(int(block), T))
    starts = range(0, T, k)
    bar = tqdm(total=len(starts) * len(net.stages), desc="simulating layers",
               leave=False) if progress else None  # (a disabled bar costs ~20 us a run)
    for t0 in starts:
        _run_block(net, inputs[t0:t0 + k], t0, first_current, input_ops, bar)
    if bar is not None:
        bar.close()


def _run_block(net: SpikingNetwork, inputs: torch.Tensor, t0: int,
               first_current: torch.Tensor | None, input_ops: torch.Tensor | None,
               bar: tqdm | None) -> None:
    """Steps [t0, t0 + k) of the run, k = len(inputs), every layer in turn."""
    run_state, code = net.run_state, net.spike_code
    k, B = inputs.shape[:2]
    if input_ops is not None:
        in_ops = input_ops.expand(k)
    else:
        in_ops = (torch.ceil(inputs.abs()).reshape(k, B, -1) @ net.input_fan_out).mean(1)
    if first_current is not None:
        current = first_current.unsqueeze(0)  # (1, B, ...): the same every step
    else:
        current = torch.stack([code.layer_current(run_state, 0, inputs[t]) for t in range(k)])
    last, trains = len(net.stages) - 1, {INPUT: inputs}
    synapses, last_use = net.simulated_stages, net._last_use
    for l in range(len(net.stages)):
        if l:
            syn = synapses[l]
            current = _term_current(net, l, syn, trains, bias=True)
            for j, br in enumerate(syn.branches):
                current = current + _term_current(net, (l, j), br, trains, bias=False)
        integrate_only = l == last and net.readout == "membrane"
        layer = net.layer_neurons[l].run_layer(
            current, run_state.neurons[l], k, clamp=min(max(net.clamp_delay * l - t0, 0), k),
            integrate_only=integrate_only, fan=net.fan_outs[l],
            trace=l == last or run_state.recorder.wants_membrane(l))
        run_state.neurons[l] = layer.state
        run_state.recorder.add_layer_run(l, layer)
        trains[l] = layer.spikes
        for i in [i for i in trains if last_use.get(i, last) <= l]:
            del trains[i]  # no later stage reads it
        if bar is not None:
            bar.update()
    run_state.recorder.end_run(in_ops)
    run_state.t += k
