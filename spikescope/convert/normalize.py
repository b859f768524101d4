"""Data-based weight normalization (thesis Sec. 2.1.2.1 and 2.1.3.1, "robust normalization").

For every layer l with weights, lambda_l is the p-th percentile of the non-zero ReLU
activations of that layer on a calibration set (p = 100 is max-norm), lambda_0 = 1 for the
input, and

    W_l <- W_l * lambda_{l-1} / lambda_l,      b_l <- b_l / lambda_l.

On a graph (:mod:`spikescope.sim.graph`) every synaptic term of stage l is rescaled from the
scale of what it reads to the stage's own: a term reading stage s gets W * lambda_s /
lambda_l (the input: lambda = 1), so the terms of a residual addition all deliver the
normalized sum z_l / lambda_l that the ANN computes, and a term reading a concatenation scales
each source's input channels by that source's lambda. The inputs of a join thus share the
output's scale, as in the SNN Toolbox's handling of ResNet and Inception (thesis Sec.
2.1.3), and the normalized ANN gives exactly the original outputs divided by lambda_L.

After this, ANN activations lie mostly in [0, 1], the range an IF neuron with threshold 1 can
represent as a firing rate (spikes per step).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ..errors import ParameterError
from ..sim.graph import INPUT, link, source_channels
from ..sim.stages import Stage


def check_percentile(percentile: float | None) -> None:
    """Raise ValueError unless ``percentile`` is None or in (0, 100]."""
    if percentile is None:
        return
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real):
        raise ParameterError(f"percentile must be a number in (0, 100] (100 = max-norm) or None "
                             f"(no normalization), got {percentile!r}")
    p = float(percentile)
    if not (0 < p <= 100) or math.isnan(p):
        raise ParameterError(f"percentile must be in (0, 100] (100 = max-norm) or None "
                         f"(no normalization), got {percentile}")


def compute_lambdas(activations: list[torch.Tensor], percentile: float | None) -> list[float]:
    """lambda_l = p-th percentile of the non-zero activations of layer l (1.0 if none)."""
    check_percentile(percentile)
    lambdas = []
    for a in activations:
        nz = a[a > 0].double().cpu().numpy()
        if percentile is None or nz.size == 0:
            lambdas.append(1.0)
        else:
            lambdas.append(float(np.percentile(nz, float(percentile))))
    return lambdas


def normalize(stages: list[Stage], lambdas: list[float]) -> list[Stage]:
    """Apply W_l <- W_l lambda_{source}/lambda_l, b_l <- b_l / lambda_l to every term of
    every stage (the input's lambda is 1); see the module docstring."""
    link(stages)
    lam = {INPUT: 1.0, **dict(enumerate(float(v) for v in lambdas))}
    out = []
    for l, s in enumerate(stages):
        scaled = [_scale_term(stages, t, lam, lam[l]) for t in s.terms()]
        out.append(scaled[0].copy(bias=s.bias / lam[l], branches=scaled[1:]))
    return out


def _scale_term(stages: list[Stage], term: Stage, lam: dict[int, float], own: float
                ) -> Stage:
    scales = {lam[i] for i in term.sources}
    if len(scales) == 1:
        return term.scaled(scales.pop() / own, 1.0)
    # a concatenation of sources with different lambdas: scale each input channel by its own
    chans = source_channels(stages, term)
    per_channel = torch.cat([torch.full((c,), lam[i] / own) for i, c in zip(term.sources, chans)])
    m = per_channel.view(1, -1, *([1] * (len(term.in_shape) - 1))).expand(1, *term.in_shape)
    for op in term.pre:  # pools and copies of a per-channel constant keep it
        m = op(m)
    v = m.reshape(-1) if term.kind == "linear" else m[0].flatten(1)[:, 0]
    w = term.weight
    if term.kind in ("linear", "identity"):  # one weight column (or scale) per input
        return term.copy(weight=w * v)
    if term.kind == "convT":  # (in, out/groups, ...): input channels first
        return term.copy(weight=w * v.view(-1, *([1] * (w.dim() - 1))))
    # conv: (out, in/groups, ...): output channel o of group g reads inputs g*in/groups + j
    out_c, in_g = w.shape[:2]
    group = torch.arange(out_c) // (out_c // term.groups)
    idx = group[:, None] * in_g + torch.arange(in_g)[None, :]
    return term.copy(weight=w * v[idx].view(out_c, in_g, *([1] * (w.dim() - 2))))
