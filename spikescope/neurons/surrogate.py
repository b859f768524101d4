"""Surrogate spike functions: a Heaviside spike forward, a smooth pseudo-derivative backward.

The Heaviside step H has no useful derivative; backpropagation through time replaces
dH/dV by a smooth pseudo-derivative of width ``w`` (Neftci, Mostafa & Zenke 2019;
"Spikes are the next digits" Sec. on surrogate gradients), each the derivative of a smooth
step S(x), x = V - threshold:

- "fast_sigmoid" (SuperSpike): S = 1/2 + x / (2 (w + |x|)),   S' = 1 / (2 w (1 + |x|/w)^2)
- "arctan":                      S = 1/2 + arctan(x / w) / pi,  S' = 1 / (pi w (1 + (x/w)^2))
- "erf" (Gaussian error fn.):    S = (1 + erf(x / (sqrt(2) w))) / 2,
                                 S' = exp(-x^2 / (2 w^2)) / (sqrt(2 pi) w)
- "triangle" (Bellec et al. 2018): S' = max(0, 1 - |x|/w) / w,
                                 S = 1/2 + x/w - sign(x) x^2 / (2 w^2) for |x| < w

All four integrate to 1, so ``w`` only sets how far from threshold a neuron still gets
gradient.
"""

from __future__ import annotations

import math

import torch

SURROGATES = ("fast_sigmoid", "arctan", "erf", "triangle")


def surrogate_step(x: torch.Tensor, kind: str = "fast_sigmoid", width: float = 0.5
                   ) -> torch.Tensor:
    """The smooth step S(x) whose derivative is the pseudo-derivative (see module docstring)."""
    if kind == "fast_sigmoid":
        return 0.5 + x / (2 * (width + x.abs()))
    if kind == "arctan":
        return 0.5 + torch.atan(x / width) / math.pi
    if kind == "erf":
        return 0.5 * (1 + torch.erf(x / (math.sqrt(2) * width)))
    if kind == "triangle":
        u = (x / width).clamp(-1, 1)
        return 0.5 + u - torch.sign(u) * u ** 2 / 2
    raise ValueError(f"surrogate must be one of {SURROGATES}, got {kind!r}")


def pseudo_derivative(x: torch.Tensor, kind: str = "fast_sigmoid", width: float = 0.5
                      ) -> torch.Tensor:
    """dS/dx, used in place of the spike's derivative dH/dx (x = V - threshold)."""
    if kind == "fast_sigmoid":
        return 1.0 / (2 * width * (1 + x.abs() / width) ** 2)
    if kind == "arctan":
        return 1.0 / (math.pi * width * (1 + (x / width) ** 2))
    if kind == "erf":
        return torch.exp(-0.5 * (x / width) ** 2) / (math.sqrt(2 * math.pi) * width)
    if kind == "triangle":
        return (1 - x.abs() / width).clamp(min=0) / width
    raise ValueError(f"surrogate must be one of {SURROGATES}, got {kind!r}")


class SurrogateSpike(torch.autograd.Function):
    """Forward: H(x) = [x >= 0] (a spike); backward: grad * pseudo_derivative(x)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kind: str, width: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.kind, ctx.width = kind, width
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * pseudo_derivative(x, ctx.kind, ctx.width), None, None


def spike(x: torch.Tensor, kind: str = "fast_sigmoid", width: float = 0.5) -> torch.Tensor:
    """Heaviside spike of x = V - threshold with a surrogate gradient."""
    if kind not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {kind!r}")
    if not width > 0:
        raise ValueError(f"surrogate width must be positive, got {width}")
    return SurrogateSpike.apply(x, kind, float(width))


def damped_spike(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """Spike H(x) whose gradient is gamma * max(0, 1 - |x|), the damped triangular
    pseudo-derivative of Bellec et al. (2020), x = (v - A) / v_th."""
    s = spike(x, "triangle", 1.0)
    return s.detach() + gamma * (s - s.detach())
