"""Exact synaptic sums: weights of spike-fed layers on a dyadic fixed-point grid.

A float32 sum is exact when every partial sum is a multiple of some 2^-g and smaller than
2^(24-g) in magnitude: then no addition rounds, and the result does not depend on the order of
the additions, on the batch size, on the BLAS kernel or on the number of threads.

A layer fed by spikes (0/1, or k/2^q after a 2^q-input average pool) gets weights on the grid
2^-(23 - e - q) and bias on 2^-(23 - e), where 2^e bounds every partial sum: every partial
sum is then a multiple of 2^-(23 - e) below 2^e, 23 of float32's 24 bits with one to spare.
The rounding moves a weight by at most 2^-(24 - e - q), i.e. 2^-23 of the layer's largest
possible input current (2^-21 after a 2x2 average pool; float32 itself
resolves 2^-24 of a value), far below a rate code's resolution of 1/T. The gain: the currents
of all T steps from one product over T*B rows equal those of T products, so
:mod:`spikescope.layerwise` can batch a run over time and still equal
:meth:`SpikingNetwork.step` bit for bit; and batch 1 equals batch 256. The input layer
keeps its weights: analog input is not on a grid, and its current is computed the same way
(one product of the same shape per step, or once for a constant input) on either path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .stages import Stage

SUM_BITS = 23
"""Significant bits a layer's largest sum may use (of float32's 24)."""


def grid_exponent(bound: float) -> int:
    """g such that sums on the grid 2^-g bounded by ``bound`` use at most SUM_BITS bits."""
    e = math.ceil(math.log2(bound)) if bound > 0 else 0
    return SUM_BITS - max(e, -100)


def snap(t: torch.Tensor, g: int) -> torch.Tensor:
    """Round ``t`` to the nearest multiple of 2^-g (ties to even); exact scaling by 2^+-g."""
    return torch.round(t * 2.0 ** g) * 2.0 ** -g


def input_bits(stage: Stage) -> int | None:
    """q such that ``stage``'s input after its pre ops is k / 2^q (k integer, |.| <= 1) when its
    incoming spikes are 0/1; None if an op breaks that (an average pool over a window whose
    size is not a power of two)."""
    q = 0
    for op in stage.pre:
        if isinstance(op, (nn.AvgPool1d, nn.AvgPool2d)):
            k = op.kernel_size if isinstance(op.kernel_size, (tuple, list)) else \
                (op.kernel_size,) * (1 if isinstance(op, nn.AvgPool1d) else 2)
            area = math.prod(k)
            pad = max(op.padding) if isinstance(op.padding, (tuple, list)) else op.padding
            if area & (area - 1) or (pad and not op.count_include_pad) or op.ceil_mode:
                return None
            q += area.bit_length() - 1
        elif not isinstance(op, (nn.MaxPool1d, nn.MaxPool2d, nn.Flatten, nn.Upsample)):
            return None
    return q


def drive_bound(stage: Stage, *, nonnegative: bool = False) -> float:
    """Largest |partial sum| of one neuron's current for inputs in [-1, 1]: max_i sum_j
    |w_ij| + |b_i|; for inputs in [0, 1] (spikes) max_i max(sum w_ij^+, sum w_ij^-) + |b_i|."""
    w = stage.weight.detach()
    if stage.kind == "convT":  # (in, out/groups, ...): each output sums over the inputs
        w = w.transpose(0, 1)
    w = w.flatten(1) if w.dim() > 1 else w[:, None]
    s = torch.maximum(w.clamp(min=0).sum(1), (-w).clamp(min=0).sum(1)) if nonnegative \
        else w.abs().sum(1)
    return float((s + stage.bias.detach().abs()).max())


def exact_stages(stages: list[Stage]) -> tuple[list[Stage], list[int | None]]:
    """The stages as simulated, and the grid exponent g of each layer's currents (multiples of
    2^-g): a stage fed by the network input is kept as it is (None: no grid); a stage whose
    terms' inputs are all spikes on a dyadic grid gets every term's weights and the bias
    rounded onto one grid (the bound covers the sum of all terms); None where an input is
    not on a grid (no exact sums)."""
    out, grids = [], []
    for l, s in enumerate(stages):
        terms = s.terms()
        qs = [input_bits(t) for t in terms]
        reads_input = any(-1 in (t.sources if t.sources is not None else (l - 1,))
                          for t in terms)
        if reads_input or any(q is None for q in qs):
            out.append(s)
            grids.append(None)
            continue
        g = grid_exponent(sum(drive_bound(t, nonnegative=True) for t in terms))
        out.append(s.copy(weight=snap(s.weight, g - qs[0]), bias=snap(s.bias, g),
                          branches=[b.copy(weight=snap(b.weight, g - q))
                                    for b, q in zip(s.branches, qs[1:])]))
        grids.append(g)
    return out, grids
