"""Integrate-and-fire neurons, non-leaky ("if") and leaky ("lif"): the reference model.

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

import torch

from . import numba_kernel
from .base import (
    LayerRun,
    NeuronModel,
    NeuronParams,
    NeuronState,
    SpikeFn,
    init_state,
    register_neuron,
)


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


def if_surrogate_step(v: torch.Tensor, current: torch.Tensor, params: NeuronParams,
                      spike_fn: SpikeFn, *, leak: torch.Tensor | float | None = None,
                      detach_reset: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """eq. 2.4 without in-place operations, for backpropagation through time:
    V = leak V + I, s = spike_fn(V - threshold), V <- V - s threshold (or V (1 - s)).
    ``detach_reset``: no gradient through the reset (common practice, more stable)."""
    leak = params.leak if leak is None else leak
    v = leak * v + current
    s = spike_fn(v - params.threshold)
    sr = s.detach() if detach_reset else s
    v = v - sr * params.threshold if params.reset == "subtract" else v * (1 - sr)
    return s, v


@register_neuron("if")
class IF(NeuronModel):
    """Non-leaky integrate-and-fire (eq. 2.4 with leak = 1); the reference model.

    Its layer-by-layer backend is the compiled kernel :mod:`spikescope.neurons.numba_kernel`
    (binary spikes, float32 on the CPU), proved equal to :func:`if_step` bit for bit.
    """

    def __init__(self, params: NeuronParams | None = None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._check_leak()

    def _check_leak(self) -> None:
        if self.params.leak != 1:
            raise ValueError(f"the 'if' neuron does not leak (leak = 1); got leak="
                             f"{self.params.leak}: use neuron='lif'")

    def step(self, state: NeuronState, current: torch.Tensor
             ) -> tuple[torch.Tensor, NeuronState]:
        """eq. 2.4: :func:`if_step`."""
        return if_step(state, current, self.params)

    def surrogate_step(self, v, current, spike_fn, *, leak=None, detach_reset=True):
        """eq. 2.4 for training: :func:`if_surrogate_step`."""
        return if_surrogate_step(v, current, self.params, spike_fn, leak=leak,
                                 detach_reset=detach_reset)

    def run_layer(self, current: torch.Tensor, state: NeuronState, timesteps: int, *,
                  clamp: int = 0, integrate_only: bool = False, fan: torch.Tensor,
                  trace: bool = False) -> LayerRun:
        """T steps in one compiled pass where it applies (binary spikes, float32, CPU),
        else by stepping (the base class)."""
        if not numba_kernel.applies(self.params, current):
            return super().run_layer(current, state, timesteps, clamp=clamp,
                                     integrate_only=integrate_only, fan=fan, trace=trace)
        return numba_kernel.run_layer(current, state, self.params, timesteps, clamp=clamp,
                                      integrate_only=integrate_only, fan=fan, trace=trace)


@register_neuron("lif")
class LIF(IF):
    """Leaky integrate-and-fire (eq. 2.4, leak = exp(-dt / tau) in (0, 1])."""

    def _check_leak(self) -> None:
        """Any leak in (0, 1] (NeuronParams checks the range)."""


def rate_current_curve(current: torch.Tensor, timesteps: int,
                       params: NeuronParams | None = None) -> torch.Tensor:
    """Spike rate (spikes per step) of IF neurons driven by a constant ``current`` for T steps.

    With reset by subtraction the rate is floor(z*T)/T -> ReLU(z) clipped at 1/threshold;
    with reset to zero it is floor(T / ceil(threshold/z)) / T. ``params``: default IF.
    """
    params = NeuronParams() if params is None else params
    state = init_state(tuple(current.shape), params, device=current.device)
    count = torch.zeros_like(current)
    for _ in range(timesteps):
        s, state = if_step(state, current, params)
        count += s
    return count / timesteps
