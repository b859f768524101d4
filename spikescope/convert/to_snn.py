"""``convert()``: a trained ANN in, a spiking network out (thesis Sec. 2.1)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..codes import CODES
from ..errors import ParameterError, check_device, check_number
from ..neurons import NeuronModel, NeuronParams
from ..sim.graph import forward, stage_activations
from ..sim.network import SpikingNetwork
from .normalize import check_percentile, compute_lambdas, normalize
from .parse import ConversionError, parse


def _check_calibration(calibration: torch.Tensor) -> torch.Tensor:
    if calibration is None or np.iscomplexobj(calibration):
        raise ParameterError(f"calibration must be a real numeric (B, ...) tensor or array, got "
                             f"{type(calibration).__name__}")
    if not isinstance(calibration, torch.Tensor):
        try:
            calibration = torch.as_tensor(np.asarray(calibration, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise ParameterError(f"calibration must be a numeric (B, ...) tensor or array, got "
                                 f"{type(calibration).__name__} ({e})") from e
    if calibration.is_complex() or calibration.dtype == torch.bool:
        raise ParameterError(f"calibration must be a real numeric tensor, got "
                             f"{calibration.dtype}")
    if calibration.dim() < 2 or len(calibration) == 0:
        raise ParameterError(f"calibration set is empty or has no batch dimension "
                         f"(shape {tuple(calibration.shape)}); pass a (B, ...) tensor with B >= 1")
    if not torch.isfinite(calibration).all():
        raise ParameterError("calibration set contains NaN or infinite values")
    return calibration.float()


@torch.no_grad()
def _check_equal(model: nn.Module, stages, x: torch.Tensor) -> None:
    """ConversionError unless the parsed stages compute what the model computes on ``x``
    (a guard against any op the parser misread)."""
    want = model(x)
    if not isinstance(want, torch.Tensor):
        raise ConversionError(f"the model returns {type(want).__name__}, not one tensor")
    got = forward(stages, x)[-1].reshape(want.shape)
    tol = 1e-4 * (1 + float(want.abs().max()))
    err = float((got - want).abs().max())
    if not err <= tol:
        raise ConversionError(f"the converted layers do not reproduce the model's output "
                              f"(max difference {err:.3g}); an operation in forward() was not "
                              f"understood: please report the model")


def convert(model: nn.Module, calibration: torch.Tensor, *, percentile: float | None = 99.9,
            code: str = "rate", reset: str = "subtract", threshold: float = 1.0,
            leak: float = 1.0, bits: int = 8,
            neuron: str | NeuronModel | type[NeuronModel] | None = None,
            **options) -> SpikingNetwork:
    """Convert a trained ANN into a spiking network.

    Args:
        model: torch module: a chain or a graph (residual additions, concatenations) of the
            layers in :data:`spikescope.SUPPORTED_LAYERS`, see :mod:`spikescope.convert.parse`.
        calibration: (B, ...) inputs in [0, 1] used to find the per-layer lambdas.
        percentile: p for lambda_l (100 = max-norm, None = no normalization).
        code: spike code, a name in :data:`spikescope.CODES` (or a Code subclass).
        reset: "subtract" or "zero". threshold, leak: see :class:`NeuronParams`.
        bits: number of bits n of the temporal pattern code.
        neuron: neuron model, a name in :data:`spikescope.NEURONS` ("if", "lif", or one
            registered with ``register_neuron``), a NeuronModel class or instance; None:
            "if" for leak = 1, "lif" otherwise.
        options: refractory (steps), graded (bool), clamp_delay (d, steps), readout
            ("spikes" or "membrane"), dt_ms (ms per step), device; codes may take more.

    The caller's model is not changed (a copy is converted).

    Raises:
        ConversionError: unsupported layer, NaN/inf weights, shape mismatch.
        ValueError: empty calibration set, out-of-range percentile or neuron parameters,
            unknown code or neuron model.
    """
    check_percentile(percentile)
    if isinstance(code, str):
        CODES.get_or_raise(code)
    calibration = _check_calibration(calibration)
    device = check_device(options.pop("device", None))
    params = NeuronParams(threshold=check_number("threshold", threshold, low=0, low_open=True),
                          leak=check_number("leak", leak, low=0, high=1, low_open=True),
                          reset=reset,
                          refractory=check_number("refractory", options.pop("refractory", 0),
                                                  integer=True, low=0),
                          graded=bool(options.pop("graded", False)))
    bits = check_number("bits", bits, integer=True, low=1, high=32)
    calibration = calibration.cpu()
    model = copy.deepcopy(model).eval().cpu()
    stages = parse(model, tuple(calibration.shape[1:]))
    try:
        acts = stage_activations(stages, calibration)
    except RuntimeError as e:
        raise ConversionError(f"calibration data of shape {tuple(calibration.shape[1:])} does "
                              f"not fit the model: {e}") from e
    _check_equal(model, stages, calibration[:16])
    lambdas = compute_lambdas(acts, percentile)
    net = SpikingNetwork(normalize(stages, lambdas), lambdas, params, code=code, neuron=neuron,
                         percentile=percentile, bits=int(bits),
                         input_shape=tuple(calibration.shape[1:]), **options)
    if device is not None:
        net.to(device)
    return net
