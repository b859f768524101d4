"""The spike-code interface and its registry.

A :class:`Code` says how a network computes with spikes: which input encoding it takes, how a
layer's input current is formed from the spikes below it, how its neurons integrate and fire,
and how the answer is read out. The simulator (:class:`spikescope.sim.network.SpikingNetwork`)
calls these hooks, in this order, for every step; a code keeps whatever it needs during a
run in ``run.code`` (the :class:`~spikescope.sim.state.RunState` of the run)::

    before_step(run, x_t) -> x_t
    for each layer l:  layer_current(run, l, h) -> current;  neuron_step(run, l, current) -> h
    after_step(run)
    ...  finish(run, recording) -> recording

The base class is the rate code of the thesis (Sec. 2.1): currents W pre(h) + b, the
neuron model's own update, spiking max-pool gated by presynaptic counts, spike-count readout
(or the potential of a non-spiking output layer). Writing a new code is writing one class::

    @register_code("burst")
    class Burst(Code):
        def neuron_step(self, run, l, current):
            return 2 * super().neuron_step(run, l, current)

    net = spikescope.convert(model, x, code="burst")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..registry import Registry
from ..sim.graph import gather
from ..sim.recording import Recording
from ..sim.stages import avg_pool

if TYPE_CHECKING:  # the simulator imports codes, not the other way round
    from ..sim.network import SpikingNetwork
    from ..sim.state import RunState


class Code:
    """A spike code (the rate code itself); subclass and override the hooks that differ.

    Class attributes: ``encoding`` (what :meth:`SpikingNetwork.run` uses by default),
    ``readouts`` (the readouts it supports, the first the default), ``options`` (the extra
    keyword options it takes through ``convert``, with defaults).
    """

    name: ClassVar[str] = ""
    encoding: ClassVar[str] = "analog"
    readouts: ClassVar[tuple[str, ...]] = ("spikes", "membrane")
    options: ClassVar[dict[str, Any]] = {}
    graphs: ClassVar[bool] = True
    """Whether the code simulates graphs (residual additions, concatenations), not only
    chains; see :mod:`spikescope.sim.graph`."""

    def __init__(self, net: SpikingNetwork, **options: Any) -> None:
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"code {self.name!r} takes no option(s) {sorted(unknown)}; "
                            f"its options: {sorted(self.options) or 'none'}")
        self.net = net
        for k, default in self.options.items():
            setattr(self, k, options.get(k, default))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.options)
        return f"{type(self).__name__}({opts})"

    # ----------------------------------------------------------------- run set-up
    def check(self) -> None:
        """Refuse network settings this code cannot simulate (ValueError naming them)."""
        if not self.graphs and not self.net.is_chain:
            raise ParameterError(f"code {self.name!r} simulates plain chains of layers only; "
                                 f"this network has joins (residual additions or "
                                 f"concatenations): use a code that supports graphs "
                                 f"({', '.join(n for n, c in CODES.items() if c.graphs)})")
        if self.net.readout not in self.readouts:
            raise ParameterError(f"readout must be one of {self.readouts} for code {self.name!r}, "
                             f"got {self.net.readout!r}")

    def run_arguments(self, timesteps: int | None, encoding: str | None
                      ) -> tuple[int, str, dict[str, Any]]:
        """(timesteps, encoding, encoder options) for ``run``; None picks the default."""
        if timesteps is None:
            raise ParameterError("timesteps is required for code " + repr(self.name)
                                 + " (a positive integer)")
        return timesteps, encoding or self.encoding, {}

    def layerwise(self) -> bool:
        """Whether the layer-by-layer path (:mod:`spikescope.sim.layerwise`) computes what
        these hooks compute: true for codes that keep the base class's per-step hooks."""
        return _keeps_step_hooks(type(self))

    def start(self, run: RunState) -> None:
        """Called by ``reset``: set up ``run.code`` (the code's own state for this run)."""

    def begin_run(self, run: RunState, x: torch.Tensor, encoding: str) -> None:
        """Called by ``run`` after ``reset`` with the static input ``x`` and its encoding."""

    # ----------------------------------------------------------------- one step
    def before_step(self, run: RunState, x_t: torch.Tensor) -> torch.Tensor:
        """The input of this step as the code passes it on (default: unchanged)."""
        return x_t

    def apply_pre(self, run: RunState, l: int | tuple[int, int], h: torch.Tensor
                  ) -> torch.Tensor:
        """Layer l's pooling/flatten ops on the spikes arriving from its sources; ``l`` may
        be (layer, j): the ops of the layer's branch j."""
        stage = self.net.stages[l] if isinstance(l, int) else \
            self.net.stages[l[0]].branches[l[1]]
        for i, op in enumerate(stage.pre):
            if isinstance(op, (nn.MaxPool1d, nn.MaxPool2d)):
                h = self.max_pool(run, (l, i), op, h)
            elif isinstance(op, nn.AvgPool2d):
                h = avg_pool(op, h)
            else:
                h = op(h)
        return h

    def max_pool(self, run: RunState, key: tuple, op: nn.MaxPool2d,
                 h: torch.Tensor) -> torch.Tensor:
        """Spiking max-pool (thesis Sec. 2.1.2.4): each window passes the spikes of the input
        with the highest running spike count (a gate driven by the presynaptic rates)."""
        counts = run.pool_counts.get(key)
        run.pool_counts[key] = counts = h.clone() if counts is None else counts.add_(h)
        return gate_max(counts, op, h)

    def layer_current(self, run: RunState, l: int, h: torch.Tensor) -> torch.Tensor | None:
        """Layer l's input current from the spikes ``h`` of its sources (layer l-1 in a
        chain, the input for l = 0) plus its branches' terms (read from ``run.outputs``),
        with the simulated weights (:mod:`spikescope.sim.exact`); None: no input this step."""
        syn = self.net.simulated_stages[l]
        current = syn.synapse(self.apply_pre(run, l, h))
        for j, br in enumerate(syn.branches):
            x = self.apply_pre(run, (l, j), gather(run.outputs, br.sources))
            current = current + br.synapse(x, bias=False)
        return current

    def neuron_step(self, run: RunState, l: int, current: torch.Tensor) -> torch.Tensor:
        """Integrate ``current`` into layer l and return its spikes."""
        state = run.neurons[l]
        if self.net.clamp_delay and run.t < self.net.clamp_delay * l:
            return torch.zeros_like(current)  # clamped: V stays 0, no spikes
        if l == len(self.net.stages) - 1 and self.net.readout == "membrane":
            state.v.add_(current)
            return torch.zeros_like(current)
        spikes, _ = self.net.layer_neurons[l].step(state, current)
        return spikes

    def after_step(self, run: RunState) -> None:
        """Called after every layer has stepped (``run.t`` not yet advanced)."""

    # ----------------------------------------------------------------- readout
    def finish(self, run: RunState, recording: Recording) -> Recording:
        """The recording as this code reads it out (default: unchanged)."""
        return recording


@functools.cache
def _keeps_step_hooks(cls: type[Code]) -> bool:
    return all(getattr(cls, m) is getattr(Code, m) for m in _STEP_HOOKS)


_STEP_HOOKS = ("before_step", "apply_pre", "max_pool", "layer_current", "neuron_step",
               "after_step")


def gate_max(gate: torch.Tensor, op: nn.MaxPool2d | nn.MaxPool1d, h: torch.Tensor
             ) -> torch.Tensor:
    """Pass, from each max-pool window of ``h``, the element where ``gate`` is largest (the
    one spiking max-pool rule; rate, pattern and the layer-by-layer path use it)."""
    if isinstance(op, nn.MaxPool1d):
        _, idx = F.max_pool1d(gate, op.kernel_size, op.stride, op.padding,
                              ceil_mode=op.ceil_mode, return_indices=True)
        return h.gather(-1, idx).to(h.dtype)
    _, idx = F.max_pool2d(gate, op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode,
                          return_indices=True)
    return h.flatten(-2).gather(-1, idx.flatten(-2)).view_as(idx).to(h.dtype)


CODES: Registry[type[Code]] = Registry("spike code")
"""Registered spike codes, name -> :class:`Code` subclass."""


def register_code(name: str) -> Callable[[type[Code]], type[Code]]:
    """Class decorator: register a :class:`Code` subclass under ``name`` (then
    ``convert(..., code=name)``, saved networks and the dashboard know it)."""
    return CODES.class_decorator(name, Code)


register_code("rate")(Code)
