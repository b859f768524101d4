"""ANN-to-SNN conversion: BatchNorm folding and data-based weight normalization.

Normalization (thesis Sec. 2.1.2.1 and 2.1.3.1, "robust normalization"): for every layer l
with weights, lambda_l is the p-th percentile of the non-zero ReLU activations of that layer on
a calibration set (p = 100 is max-norm), lambda_0 = 1 for the input, and

    W_l <- W_l * lambda_{l-1} / lambda_l,      b_l <- b_l / lambda_l.

After this, ANN activations lie mostly in [0, 1], the range an IF neuron with threshold 1 can
represent as a firing rate (spikes per step).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .layers import ConversionError, Stage, parse, stage_activations
from .network import CODES, SpikingNetwork
from .neurons import NeuronParams


def check_percentile(percentile: float | None) -> None:
    """Raise ValueError unless ``percentile`` is None or in (0, 100]."""
    if percentile is None:
        return
    p = float(percentile)
    if not (0 < p <= 100) or math.isnan(p):
        raise ValueError(f"percentile must be in (0, 100] (100 = max-norm) or None "
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


def _check_calibration(calibration: torch.Tensor) -> torch.Tensor:
    if not isinstance(calibration, torch.Tensor):
        calibration = torch.as_tensor(np.asarray(calibration), dtype=torch.float32)
    if calibration.dim() < 2 or len(calibration) == 0:
        raise ValueError(f"calibration set is empty or has no batch dimension "
                         f"(shape {tuple(calibration.shape)}); pass a (B, ...) tensor with B >= 1")
    if not torch.isfinite(calibration).all():
        raise ValueError("calibration set contains NaN or infinite values")
    return calibration.float()


def convert(model: nn.Module, calibration: torch.Tensor, *, percentile: float | None = 99.9,
            code: str = "rate", reset: str = "subtract", threshold: float = 1.0,
            leak: float = 1.0, bits: int = 8, **options) -> SpikingNetwork:
    """Convert a trained ANN into a spiking network.

    Args:
        model: torch module of Linear/Conv2d/BatchNorm/ReLU/AvgPool2d/MaxPool2d/Flatten/Dropout.
        calibration: (B, ...) inputs in [0, 1] used to find the per-layer lambdas.
        percentile: p for lambda_l (100 = max-norm, None = no normalization).
        code: spike code, one of :data:`spikescope.network.CODES`.
        reset: "subtract" or "zero". threshold, leak: see :class:`NeuronParams`.
        bits: number of bits n of the temporal pattern code.
        options: refractory (steps), graded (bool), clamp_delay (d, steps), readout
            ("spikes" or "membrane"), dt_ms (ms per step), device; codes may take more.

    Raises:
        ConversionError: unsupported layer, NaN/inf weights, shape mismatch.
        ValueError: empty calibration set, out-of-range percentile or neuron parameters.
    """
    check_percentile(percentile)
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}; available: {sorted(CODES)}")
    calibration = _check_calibration(calibration)
    device = options.pop("device", None)
    params = NeuronParams(threshold=float(threshold), leak=float(leak), reset=reset,
                          refractory=int(options.pop("refractory", 0)),
                          graded=bool(options.pop("graded", False)))
    model = model.eval().cpu()
    stages = parse(model, tuple(calibration.shape[1:]))
    try:
        acts = stage_activations(stages, calibration)
    except RuntimeError as e:
        raise ConversionError(f"calibration data of shape {tuple(calibration.shape[1:])} does "
                              f"not fit the model: {e}") from e
    lambdas = compute_lambdas(acts, percentile)
    net = CODES[code](normalize(stages, lambdas), lambdas, params, percentile=percentile,
                      bits=int(bits), input_shape=tuple(calibration.shape[1:]), **options)
    if device is not None:
        net.to(device)
    return net
