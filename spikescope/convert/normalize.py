"""Data-based weight normalization (thesis Sec. 2.1.2.1 and 2.1.3.1, "robust normalization").

For every layer l with weights, lambda_l is the p-th percentile of the non-zero ReLU
activations of that layer on a calibration set (p = 100 is max-norm), lambda_0 = 1 for the
input, and

    W_l <- W_l * lambda_{l-1} / lambda_l,      b_l <- b_l / lambda_l.

After this, ANN activations lie mostly in [0, 1], the range an IF neuron with threshold 1 can
represent as a firing rate (spikes per step).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ..errors import ParameterError
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
    """Apply W_l <- W_l lambda_{l-1}/lambda_l, b_l <- b_l / lambda_l (lambda_0 = 1)."""
    out, prev = [], 1.0
    for s, lam in zip(stages, lambdas):
        out.append(s.scaled(prev / lam, 1.0 / lam))
        prev = lam
    return out
