"""Spiking neuron update equations (functional core).

The general integrate-and-fire update (thesis Sec. 2.1, "Spikes are the next digits" eq. for
IF/LIF with leak, hard/soft reset and graded spikes), one time step of length ``dt``:

    V(t) = leak * V(t-1) + I(t)                         (integrate, eq. 2.4a)
    n(t) = [V(t) >= threshold]  or  floor(V(t)/threshold) for graded spikes
    V(t) <- V(t) - n(t) * threshold                     (reset by subtraction, eq. 2.4b)
    V(t) <- 0 where n(t) > 0                            (reset to zero, eq. 2.4c)

``leak = 1`` is the non-leaky IF neuron; ``leak < 1`` the leaky (LIF) neuron with
``leak = exp(-dt / tau)``. During a refractory period of ``refractory`` steps after a spike the
neuron ignores its input and cannot fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

RESETS = ("subtract", "zero")


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of an integrate-and-fire population.

    threshold: firing threshold (dimensionless, in units of normalized input current).
    leak: multiplicative leak per step in (0, 1]; 1 = non-leaky IF.
    reset: "subtract" (soft reset, eq. 2.4b) or "zero" (hard reset, eq. 2.4c).
    refractory: refractory period in time steps (0 = none).
    graded: emit n = floor(V / threshold) spikes per step instead of at most one.
    """

    threshold: float = 1.0
    leak: float = 1.0
    reset: str = "subtract"
    refractory: int = 0
    graded: bool = False

    def __post_init__(self) -> None:
        if not (self.threshold > 0 and torch.isfinite(torch.tensor(self.threshold))):
            raise ValueError(f"threshold must be a positive finite number, got {self.threshold}")
        if not 0 < self.leak <= 1:
            raise ValueError(f"leak must be in (0, 1] (1 = non-leaky IF), got {self.leak}")
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if int(self.refractory) != self.refractory or self.refractory < 0:
            raise ValueError(f"refractory must be a non-negative integer of steps, "
                             f"got {self.refractory}")


class NeuronState(NamedTuple):
    """Membrane potential ``v`` and remaining refractory steps ``refrac`` (None if unused)."""

    v: torch.Tensor
    refrac: torch.Tensor | None


def init_state(shape: tuple[int, ...], params: NeuronParams, *, device=None,
               dtype=torch.float32) -> NeuronState:
    """Resting state: V = 0, not refractory."""
    v = torch.zeros(shape, device=device, dtype=dtype)
    refrac = torch.zeros(shape, device=device, dtype=torch.int32) if params.refractory else None
    return NeuronState(v, refrac)


def if_step(state: NeuronState, current: torch.Tensor,
            params: NeuronParams) -> tuple[torch.Tensor, NeuronState]:
    """One IF/LIF step (eq. 2.4): returns ``(spikes, new_state)``.

    ``spikes`` is float: 0/1, or the spike count n >= 0 per neuron when ``params.graded``.
    The state tensors are updated in place (the returned state holds the same tensors).
    """
    v, refrac = state
    if params.leak != 1.0:
        v.mul_(params.leak)
    if refrac is not None:
        active = refrac <= 0
        v.add_(torch.where(active, current, torch.zeros_like(current)))
    else:
        v.add_(current)
    thr = params.threshold
    if params.graded:
        spikes = torch.floor(v / thr).clamp_(min=0)
    else:
        spikes = torch.ge(v, thr, out=torch.empty_like(v))  # 0/1 written as float, one pass
    if refrac is not None:
        spikes.mul_(active)
    if params.reset == "subtract":
        v.sub_(spikes, alpha=thr)
    else:
        v.mul_(1.0 - (spikes > 0).to(v.dtype))
    if refrac is not None:
        refrac.sub_(1).clamp_(min=0)
        refrac.masked_fill_(spikes > 0, params.refractory)
    return spikes, state


def rate_current_curve(current: torch.Tensor, timesteps: int,
                       params: NeuronParams = NeuronParams()) -> torch.Tensor:
    """Spike rate (spikes per step) of IF neurons driven by a constant ``current`` for T steps.

    With reset by subtraction the rate is floor(z*T)/T -> ReLU(z) clipped at 1/threshold;
    with reset to zero it is floor(T / ceil(threshold/z)) / T.
    """
    state = init_state(tuple(current.shape), params, device=current.device)
    count = torch.zeros_like(current)
    for _ in range(timesteps):
        s, state = if_step(state, current, params)
        count += s
    return count / timesteps
