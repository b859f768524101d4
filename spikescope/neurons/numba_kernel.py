"""Compiled backend of the IF/LIF model (numba): :func:`~spikescope.neurons.if_lif.if_step`
fused over the T steps of a layer.

:func:`integrate` runs :func:`spikescope.neurons.if_lif.if_step` over the T steps of a layer
(:mod:`spikescope.sim.layerwise`) with the same float32 operations in the same order, so it gives
the same bits, and in the same pass counts spikes per neuron and spikes and synaptic
operations per sample and step: one call instead of T rounds of five tensor operations.
Stepping itself stays with torch's operations, which on two threads beat one compiled pass
on one thread at every batch size measured (benchmarks/README.md).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from .base import LayerRun, NeuronParams, NeuronState

NO_TRACE = torch.empty(0, 1)
"""Pass as ``trace`` to skip writing the membrane after every step."""


@numba.njit(cache=True, nogil=True, inline="always")
def _if_subtract_row(row, v, spikes, counts, stats, fan, thr):  # pragma: no cover - compiled
    """One step of non-leaky IF neurons with reset by subtraction (the common case, kept
    branch-free so it vectorizes): row, v, spikes, counts (B*N,), stats (B, 2), fan (N,)."""
    N = fan.shape[0]
    one, zero = np.float32(1.0), np.float32(0.0)
    for b in range(stats.shape[0]):
        n_spikes, n_ops = 0, 0  # integer sums vectorize (float ones may not be reordered)
        for n in range(N):
            k = b * N + n
            x = v[k] + row[k]
            fired = x >= thr
            s = one if fired else zero
            v[k] = x - thr * s
            spikes[k] = s
            counts[k] += s
            n_spikes += fired
            n_ops += fired * fan[n]
        stats[b, 0] += n_spikes
        stats[b, 1] += n_ops


@numba.njit(cache=True, nogil=True)
def _recursion(current, v, refrac, spikes, trace, counts, stats, fan, thr, leak, zero_reset,
               refractory, clamp, integrate_only):  # pragma: no cover - compiled
    """if_step over T steps of K = B*N neurons, in float32, in if_step's order.

    current (T, K), or (1, K) for a constant one; v, refrac (K,): the state, left final.
    Writes spikes (T, K) and, unless it has no rows, trace (T, K) (the membrane after each
    step); adds to counts (K,) the spikes per neuron and to stats (T, B, 2) the spikes and the
    spikes x ``fan`` (N,) (integer fan-outs) per sample and step. Spike and op totals are integers
    below 2^24, so float32 sums them exactly in any order.
    """
    T, K = spikes.shape
    N = fan.shape[0]
    zero, one = np.float32(0.0), np.float32(1.0)  # all float32: a float64 literal would widen
    simple = leak == one and not zero_reset and refractory == 0 and not integrate_only
    for t in range(T):
        row = current[0] if current.shape[0] == 1 else current[t]
        if t < clamp:
            spikes[t] = zero
        elif simple:
            _if_subtract_row(row, v, spikes[t], counts, stats[t], fan, thr)
        else:
            for k in range(K):
                s = zero
                x = v[k]
                if leak != one and not integrate_only:
                    x = x * leak
                active = refrac[k] <= 0
                if active:
                    x = x + row[k]
                if not integrate_only:
                    if active and x >= thr:
                        s = one
                        x = zero if zero_reset else x - thr
                    if refractory:
                        refrac[k] = refractory if s > zero else max(refrac[k] - 1, 0)
                v[k] = x
                spikes[t, k] = s
                if s > zero:
                    counts[k] += s
                    b = k // N
                    stats[t, b, 0] += s
                    stats[t, b, 1] += fan[k - b * N]
        if trace.shape[0] == T:
            trace[t] = v


def integrate(current: torch.Tensor, state: NeuronState, params: NeuronParams,
              spikes: torch.Tensor, trace: torch.Tensor, counts: torch.Tensor,
              stats: torch.Tensor, fan: np.ndarray, clamp: int, integrate_only: bool) -> None:
    """Advance ``state`` (B*N neurons, CPU, float32, contiguous) through T steps of
    ``current`` (T, B*N), or (1, B*N) for the same current every step.

    Writes ``spikes`` (T, B*N) and ``trace`` (T, B*N, or NO_TRACE); adds to ``counts``
    (B*N,) and ``stats`` (T, B, 2) (spikes; spikes x ``fan``, the int64 fan-out per neuron).
    The first ``clamp`` steps leave the state as it is (clamped); ``integrate_only`` adds the
    current without leak, threshold or reset (a membrane readout). Graded spikes: not here.
    """
    if params.graded:
        raise ValueError("integrate() does not emit graded spikes; use neurons.if_step")
    refrac = state.refrac if state.refrac is not None else \
        torch.zeros(state.v.numel(), dtype=torch.int32)  # never refractory
    f32 = np.float32
    _recursion(current.numpy(), state.v.view(-1).numpy(), refrac.view(-1).numpy(),
               spikes.numpy(), trace.numpy(), counts.numpy(), stats.numpy(), fan,
               f32(params.threshold), f32(params.leak), params.reset == "zero",
               int(params.refractory), int(clamp), bool(integrate_only))



def applies(params: NeuronParams, current: torch.Tensor) -> bool:
    """Whether :func:`run_layer` can take ``current``: binary spikes, float32, CPU."""
    return (not params.graded and current.device.type == "cpu"
            and current.dtype == torch.float32)


def run_layer(current: torch.Tensor, state: NeuronState, params: NeuronParams, timesteps: int,
              *, clamp: int, integrate_only: bool, fan: torch.Tensor, trace: bool) -> LayerRun:
    """:meth:`spikescope.neurons.NeuronModel.run_layer` in one compiled pass (see
    :func:`integrate`); ``state`` is advanced in place (a contiguous copy if it is not)."""
    T = int(timesteps)
    shape = tuple(current.shape[1:])
    B, N = shape[0], fan.numel()
    state = NeuronState(state.v.contiguous(),
                        None if state.refrac is None else state.refrac.contiguous())
    dev = current.device  # the CPU (``applies``); named, not assumed
    spikes = torch.empty((T, *shape), device=dev)
    v_trace = torch.empty((T, B, N), device=dev) if trace else None
    counts, stats = torch.zeros(B, N, device=dev), torch.zeros(T, B, 2, device=dev)
    integrate(current.reshape(len(current), -1).contiguous(), state, params,
              spikes.view(T, -1), NO_TRACE if v_trace is None else v_trace.view(T, -1),
              counts.view(-1), stats, fan.cpu().numpy().astype(np.int64), int(min(clamp, T)),
              integrate_only)
    return LayerRun(spikes, v_trace, counts, stats, state)
