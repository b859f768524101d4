"""The neuron-model interface and its registry.

A :class:`NeuronModel` is a population's update rule: frozen parameters (``params``), a state
(:class:`NeuronState`) and one step ``step(state, current) -> (spikes, state)`` in torch
operations, the reference every faster path is proved equal to. ``run_layer`` advances a
whole layer through T steps of known input current (the layer-by-layer path of
:mod:`spikescope.sim.layerwise`); the base class does it by calling ``step`` T times, and a
model may register a compiled backend that gives the same bits (the IF/LIF model's numba
kernel, :mod:`spikescope.neurons.numba_kernel`).

Writing a model is writing one class, nowhere else to edit::

    @register_neuron("qif")
    class QuadraticIF(NeuronModel):
        def step(self, state, current):
            v = state.v
            v.add_(v * v * 0.1 + current)
            spikes = (v >= self.params.threshold).to(v.dtype)
            v.mul_(1 - spikes)
            return spikes, state

    net = spikescope.convert(model, x, neuron="qif")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from ..errors import ParameterError
from ..registry import Registry

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
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < float("inf")):
            raise ParameterError(f"threshold must be a positive finite number, got "
                                 f"{self.threshold!r}")
        if not (isinstance(self.leak, (int, float)) and 0 < self.leak <= 1):
            raise ParameterError(f"leak must be in (0, 1] (1 = non-leaky IF), got {self.leak!r}")
        if self.reset not in RESETS:
            raise ParameterError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if (isinstance(self.refractory, bool) or not isinstance(self.refractory, (int, float))
                or int(self.refractory) != self.refractory or self.refractory < 0):
            raise ParameterError(f"refractory must be a non-negative integer of steps, "
                             f"got {self.refractory!r}")


class NeuronState(NamedTuple):
    """Membrane potential ``v`` and remaining refractory steps ``refrac`` (None if unused)."""

    v: torch.Tensor
    refrac: torch.Tensor | None


class LayerRun(NamedTuple):
    """A layer advanced through T steps: spikes (T, B, ...), the membrane after every step
    (T, B, N) or None, spike counts per neuron (B, N), per sample and step the spikes and the
    synaptic operations they cause (T, B, 2), and the final state."""

    spikes: torch.Tensor
    membrane: torch.Tensor | None
    counts: torch.Tensor
    stats: torch.Tensor
    state: NeuronState


def init_state(shape: tuple[int, ...], params: NeuronParams, *, device=None,
               dtype=torch.float32) -> NeuronState:
    """Resting state of a population of ``shape``: V = 0, not refractory."""
    v = torch.zeros(shape, device=device, dtype=dtype)
    refrac = torch.zeros(shape, device=device, dtype=torch.int32) if params.refractory else None
    return NeuronState(v, refrac)


SpikeFn = Callable[[torch.Tensor], torch.Tensor]
"""x = V - threshold -> spikes; the Heaviside step forward, a surrogate gradient backward."""


class NeuronModel:
    """A population's update rule; subclass it and implement :meth:`step`.

    ``params`` is a frozen :class:`NeuronParams` (a model may declare a subclass with more
    fields as ``Params``). ``binary`` says the spikes are 0/1, which the exact-sum grid and
    the layer-by-layer path rely on (graded spikes are counts).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[NeuronParams]] = NeuronParams

    def __init__(self, params: NeuronParams | None = None, **kwargs) -> None:
        if params is None:
            params = self.Params(**kwargs)
        elif kwargs:
            raise TypeError("pass either params or keyword parameters, not both")
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} takes {self.Params.__name__}, "
                            f"got {type(params).__name__}")
        self.params = params

    @property
    def binary(self) -> bool:
        """Whether every spike is 0 or 1 (not graded)."""
        return not self.params.graded

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self), self.params))

    def init_state(self, shape: tuple[int, ...], *, device=None,
                   dtype=torch.float32) -> NeuronState:
        """Resting state: V = 0, not refractory."""
        return init_state(shape, self.params, device=device, dtype=dtype)

    def step(self, state: NeuronState, current: torch.Tensor
             ) -> tuple[torch.Tensor, NeuronState]:
        """One time step with input ``current``: ``(spikes, state)``, the state updated in
        place; spikes are floats (0/1, or counts for graded models)."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def surrogate_step(self, v: torch.Tensor, current: torch.Tensor, spike_fn: SpikeFn, *,
                       leak: torch.Tensor | float | None = None, detach_reset: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The same update without in-place operations, for training: ``(spikes, v)`` with
        ``spike_fn`` making the spike (a surrogate gradient backward). ``leak`` may be a
        tensor (a learned leak). Models that cannot be trained leave this unimplemented."""
        raise NotImplementedError(f"{type(self).__name__} has no differentiable update")

    def run_layer(self, current: torch.Tensor, state: NeuronState, timesteps: int, *,
                  clamp: int = 0, integrate_only: bool = False, fan: torch.Tensor,
                  trace: bool = False) -> LayerRun:
        """Advance ``state`` (B, ...) through ``timesteps`` = T steps of ``current``
        ((T or 1), B, ...; 1: the same current every step).

        The first ``clamp`` steps leave the state at rest (no input, no spikes);
        ``integrate_only`` adds the current with no threshold (a membrane readout). ``fan``
        (N,) is each neuron's fan-out; ``stats`` counts spikes and spikes x fan-out. This
        default calls :meth:`step` T times, as stepping does, so it gives the same bits; a
        backend may replace it (same bits, tested)."""
        return step_layer(self, current, state, timesteps, clamp=clamp,
                          integrate_only=integrate_only, fan=fan, trace=trace)


def step_layer(model: NeuronModel, current: torch.Tensor, state: NeuronState, timesteps: int,
               *, clamp: int, integrate_only: bool, fan: torch.Tensor, trace: bool) -> LayerRun:
    """:meth:`NeuronModel.run_layer` by calling ``model.step`` once per time step."""
    T = int(timesteps)
    B = current.shape[1]
    shape = tuple(current.shape[1:])
    dev, dtype = current.device, current.dtype
    count_ops = torch.stack([torch.ones_like(fan), fan], 1).to(dtype)
    spikes = torch.zeros((T, *shape), device=dev, dtype=dtype)
    counts = torch.zeros(B, count_ops.shape[0], device=dev, dtype=dtype)
    stats = torch.zeros(T, B, 2, device=dev, dtype=dtype)
    membrane = torch.empty(T, B, count_ops.shape[0], device=dev, dtype=dtype) if trace else None
    for t in range(T):
        cur = current[0] if len(current) == 1 else current[t]
        if t < clamp:
            s = torch.zeros_like(cur)
        elif integrate_only:
            state.v.add_(cur)
            s = torch.zeros_like(cur)
        else:
            s, state = model.step(state, cur)
        flat = s.reshape(B, -1)
        spikes[t] = s
        counts.add_(flat)
        stats[t] = flat @ count_ops
        if membrane is not None:
            membrane[t] = state.v.reshape(B, -1)
    return LayerRun(spikes, membrane, counts, stats, state)


NEURONS: Registry[type[NeuronModel]] = Registry("neuron model")
"""Registered neuron models, name -> :class:`NeuronModel` subclass."""


def register_neuron(name: str) -> Callable[[type[NeuronModel]], type[NeuronModel]]:
    """Class decorator: register a :class:`NeuronModel` subclass under ``name`` (then
    ``convert(..., neuron=name)``, the dashboard's neuron list and saved networks know it)."""
    return NEURONS.class_decorator(name, NeuronModel)


def neuron_model(neuron: str | NeuronModel | type[NeuronModel] | None,
                 params: NeuronParams) -> NeuronModel:
    """The model for ``neuron`` (a registered name, a class or an instance) with ``params``;
    None picks "if" when ``params.leak`` is 1 and "lif" otherwise."""
    if isinstance(neuron, NeuronModel):
        return neuron
    if neuron is None:
        neuron = "if" if params.leak == 1 else "lif"
    cls = NEURONS[neuron] if isinstance(neuron, str) else neuron
    if not (isinstance(cls, type) and issubclass(cls, NeuronModel)):
        raise TypeError(f"neuron must be a registered name or a NeuronModel, got {neuron!r}")
    if not isinstance(params, cls.Params):
        params = cls.Params(**{f: getattr(params, f) for f in NeuronParams.__dataclass_fields__})
    return cls(params)
