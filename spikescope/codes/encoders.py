"""Input encodings: how a static input x (values in [0, 1]) becomes per-step input (T, B, ...).

- "analog": the value is a constant input current at every step (thesis Sec. 2.1.2).
- "poisson": Bernoulli spikes each step with probability x * max_rate_hz * dt (seeded).
- "events": x is already time-major (T, B, ...) frames (binned events) and is passed through.

Temporal codes ("ttfs", "pattern") register further encoders in :data:`ENCODERS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import check_number
from ..registry import Registry

Encoder = Callable[..., torch.Tensor]
MAX_TIMESTEPS = 100_000
"""Longest run :func:`encode` accepts (steps): recordings grow with T, so an absurd T is refused."""
ENCODERS: Registry[Encoder] = Registry("encoding")


def register(name: str) -> Callable[[Encoder], Encoder]:
    """Register an encoder ``f(x, timesteps, **options) -> (T, B, ...)`` under ``name``."""

    return ENCODERS.register(name)


@register("analog")
def analog(x: torch.Tensor, timesteps: int, **_: object) -> torch.Tensor:
    """Constant current: x repeated T times (a view, no copy)."""
    return x.unsqueeze(0).expand(timesteps, *x.shape)


@register("poisson")
def poisson(x: torch.Tensor, timesteps: int, *, max_rate_hz: float = 1000.0, dt_ms: float = 1.0,
            seed: int | None = 0, **_: object) -> torch.Tensor:
    """Bernoulli spike trains, P(spike in a step) = clip(x, 0, 1) * max_rate_hz * dt.

    ``max_rate_hz * dt_ms / 1000`` must be <= 1 (at most one spike per step).
    """
    p_max = max_rate_hz * dt_ms / 1000.0
    if not 0 < p_max <= 1:
        raise ValueError(f"max_rate_hz * dt must be in (0, 1] spikes per step, got "
                         f"{max_rate_hz} Hz x {dt_ms} ms = {p_max}")
    gen = torch.Generator(device=x.device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    p = (x.clamp(0, 1) * p_max).unsqueeze(0).expand(timesteps, *x.shape)
    return (torch.rand(p.shape, generator=gen, device=x.device, dtype=x.dtype) < p).to(x.dtype)


@register("events")
def events(x: torch.Tensor, timesteps: int, **_: object) -> torch.Tensor:
    """Pre-binned event frames (T, B, ...); the first ``timesteps`` frames are used."""
    if x.shape[0] < timesteps:
        raise ValueError(f"event input has {x.shape[0]} frames, fewer than timesteps={timesteps}")
    return x[:timesteps]


def encode(x: torch.Tensor, timesteps: int, encoding: str = "analog",
           **options: object) -> torch.Tensor:
    """Encode ``x`` as T steps of input with the named ``encoding``: returns (T, B, ...)."""
    encoder = ENCODERS.get_or_raise(encoding)
    check_number("timesteps", timesteps, integer=True, low=1)
    if timesteps > MAX_TIMESTEPS:
        raise ValueError(f"timesteps={timesteps} exceeds the limit of {MAX_TIMESTEPS} steps "
                         f"(spikescope.encoding.MAX_TIMESTEPS); simulate in shorter runs")
    return encoder(x, int(timesteps), **options)
