"""Exact fast path for :meth:`SpikingNetwork.run` on feed-forward, zero-delay networks.

With zero-delay propagation, layer l at step t only needs layer l-1's spikes of steps <= t, so
the network can be simulated layer by layer instead of step by step: once layer l-1's whole
spike train (T, B, ...) is known, layer l's input currents for all T steps are computed and its
membrane recursion (eq. 2.4) is run over time as a few fused in-place tensor operations per step.
Everything that does not depend on the recursion is vectorized over T: pooling and flattening
of the spike trains, the spiking max-pool gate (its running counts are a cumulative sum over
time), spike counts, the operation counts (one product per layer), the output evidence.

Exactness. The result equals the per-step reference (``reset()`` + ``step()``) bit for bit:

- The synaptic products are done with the same calls on the same (B, ...) shapes as the
  reference, one per step. One product over all T*B rows would be faster at batch 1, but BLAS
  and oneDNN block the reduction differently for different row counts (measured here: up to
  1e-6 differences), and a 1-ulp difference in a current flips a spike whenever V lands within
  that ulp of threshold; such flips then cascade, so it is not used.
- The membrane recursion uses the same floating-point operations in the same order as
  :func:`spikescope.neurons.if_step` (fused: ``v - s*thr`` with s in {0, 1} is ``v - thr`` or
  ``v``; the reset to zero is a masked fill), or calls ``if_step`` itself for refractory and
  graded neurons.
- Quantities that are sums of integers (spike counts, synaptic operations, max-pool counts of
  integer inputs) are exact in float32 below 2**24 whatever the summation order; the fast path
  checks that bound and otherwise sums step by step like the reference.
- The closed form for non-leaky IF neurons with subtraction reset (spike count up to t = floor
  of the running maximum of the cumulative input, valid when every step's input is <= the
  threshold) is exact in real arithmetic but not in float32: the reference rounds V after every
  add and subtract, the cumulative sum rounds differently, so decisions within a few ulps of
  threshold differ. It is therefore not used for the spike trains.

The fast path applies only to the plain rate-code :class:`SpikingNetwork` whose simulation
hooks are not overridden (subclasses for temporal codes fall back to the per-step path).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .neurons import if_step

enabled = True
"""Set to False to force the per-step reference path in :meth:`SpikingNetwork.run`."""

_HOOKS = ("_step", "_layer_current", "_neuron_step", "_apply_pre", "_spiking_maxpool", "reset",
          "recording")
_EXACT_INT = 2.0 ** 24  # float32 adds integers exactly below this


def applies(net) -> bool:
    """True if ``net`` is a plain rate-code network whose step hooks are the base ones."""
    from .network import SpikingNetwork

    if not enabled or not isinstance(net, SpikingNetwork):
        return False
    cls = type(net)
    return all(getattr(cls, h) is getattr(SpikingNetwork, h) and h not in vars(net)
               for h in _HOOKS)


def _exact_int_sums(x: torch.Tensor, dim: int, scale: float = 1.0) -> bool:
    """True if ``x`` holds non-negative integers whose sums along ``dim`` (times ``scale``, a
    bound on the weights of a weighted sum) stay below 2**24: then float32 sums of them are
    exact whatever the summation order."""
    if not bool(((x >= 0) & (x == torch.floor(x))).all()):
        return False
    return float(x.double().sum(dim).max()) * scale < _EXACT_INT


def _running_counts(h: torch.Tensor) -> torch.Tensor:
    """Running sums over time of ``h`` (T, B, ...), rounded like the reference's in-place adds."""
    if _exact_int_sums(h, 0):
        return torch.cumsum(h, 0)
    out = torch.empty_like(h)
    acc = h[0].clone()
    out[0] = acc
    for t in range(1, h.shape[0]):
        out[t] = acc.add_(h[t])
    return out


def _pre_train(net, l: int, h: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Apply layer l's pre ops to the whole spike train h (T, B, ...); returns the result and
    the final running counts of its spiking max-pools."""
    T, B = h.shape[:2]
    pools = {}
    for i, op in enumerate(net.stages[l].pre):
        if isinstance(op, nn.MaxPool2d):
            counts = _running_counts(h)
            pools[(l, i)] = counts[-1].clone()
            _, idx = F.max_pool2d(counts.flatten(0, 1), op.kernel_size, op.stride, op.padding,
                                  return_indices=True)
            flat = h.flatten(0, 1)
            h = flat.flatten(2).gather(2, idx.flatten(2)).view_as(idx).to(h.dtype)
        else:
            h = op(h.flatten(0, 1))
        h = h.reshape(T, B, *h.shape[1:])
    return h, pools


def _integrate(net, l: int, T: int, current: torch.Tensor, constant: bool, trace: bool):
    """Run layer l's neurons over all steps. ``current`` is (T, B, ...) or, if ``constant``,
    (B, ...) for every step. Returns spikes (T, B, ...) float and V after each step (or None)."""
    state = net._state[l]
    params = net.params
    v = state.v
    shape = (T, *v.shape)
    spikes = torch.zeros(shape, dtype=v.dtype, device=v.device)
    vs = torch.zeros(shape, dtype=v.dtype, device=v.device) if trace else None
    t0 = min(net.clamp_delay * l, T)  # clamped steps: V stays 0, no spikes
    cur = (lambda t: current) if constant else (lambda t: current[t])
    if l == len(net.stages) - 1 and net.readout == "membrane":
        for t in range(t0, T):
            v.add_(cur(t))
            if trace:
                vs[t] = v
        return spikes, vs
    thr = params.threshold
    if params.graded or params.refractory:
        for t in range(t0, T):
            s, _ = if_step(state, cur(t), params)
            spikes[t] = s
            if trace:
                vs[t] = v
        return spikes, vs
    leak = params.leak
    subtract = params.reset == "subtract"
    for t in range(t0, T):
        if leak != 1.0:
            v.mul_(leak)
        v.add_(cur(t))
        s = torch.ge(v, thr, out=spikes[t])  # 0/1 as float
        if subtract:
            v.sub_(s, alpha=thr)  # v - thr*s with s in {0, 1}: as if_step
        else:
            v.masked_fill_(s > 0, 0.0)
        if trace:
            vs[t] = v
    return spikes, vs


@torch.no_grad()
def simulate(net, inputs: torch.Tensor, first: torch.Tensor | None) -> None:
    """Simulate all steps of ``inputs`` (T, B, ...) on ``net`` right after ``net.reset(B)``,
    filling the same state and records as T calls of ``net._step`` would."""
    T, B = inputs.shape[:2]
    L = len(net.stages)
    # synaptic ops caused by the input: integer event counts x exact fan-outs
    if first is not None:  # analog: the same input every step
        in_events = torch.ceil(inputs[0].abs()).reshape(B, -1)
        op = (in_events @ net.input_fan_out).mean()
        net._input_ops = [op] * T
    else:
        in_events = torch.ceil(inputs.abs()).reshape(T, B, -1)
        fan = float(net.input_fan_out.max()) if len(net.input_fan_out) else 0.0
        if _exact_int_sums(in_events.sum(2), 1, fan):  # rows and their batch sums exact
            net._input_ops = list((in_events @ net.input_fan_out).mean(1).unbind(0))
        else:
            net._input_ops = [(in_events[t] @ net.input_fan_out).mean() for t in range(T)]
    h = inputs
    stats = []
    record_spikes = "spikes" in net._record
    pool_counts = {}
    for l, stage in enumerate(net.stages):
        last = l == L - 1
        if l == 0 and first is not None:
            current, constant = first, True
        else:
            z, pools = _pre_train(net, l, h)
            pool_counts.update(pools)
            current = torch.stack([stage.synapse(z[t]) for t in range(T)])
            constant = False
        mem_idx = net._mem_idx[l] if net._mem_idx is not None else None
        trace = last or (mem_idx is not None and len(mem_idx) > 0)
        h, vs = _integrate(net, l, T, current, constant, trace)
        flat = h.reshape(T, B, -1)
        fan = float(net.fan_outs[l].max()) if len(net.fan_outs[l]) else 0.0
        exact = _exact_int_sums(flat, 0) and _exact_int_sums(flat, 2, max(fan, 1.0))
        if exact:
            net._counts[l].add_(flat.sum(0))
            count_ops = flat @ net._count_ops[l]  # (T, B, 2) spikes and ops, exact
        else:
            for t in range(T):
                net._counts[l].add_(flat[t])
            count_ops = torch.stack([flat[t] @ net._count_ops[l] for t in range(T)])
        stats.append(count_ops)
        if record_spikes:
            net._trains[l] = list((flat > 0).unbind(0))
        if mem_idx is not None and len(mem_idx):
            net._mem[l] = list(vs.reshape(T, B, -1)[:, :, mem_idx].unbind(0))
        if last:
            out = torch.cumsum(flat, 0) if exact else _running_counts(flat)
            net._out_counts = list(out.unbind(0))
            net._out_v = list(vs.reshape(T, B, -1).unbind(0))
    net._layer_stats = list(torch.stack(stats, 2).unbind(0))  # T x (B, L, 2)
    net._pool_counts = pool_counts
    net._t = T
