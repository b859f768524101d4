"""Stages: the nodes of a converted network as the simulator sees them.

A stage is one population of spiking neurons. Its input current is a sum of synaptic terms:
the stage's own term (the spikes of the stages ``sources``, concatenated along channels, then
the pooling/flatten/upsampling ops ``pre``, then a synaptic map ``kind`` with weights
``weight`` and bias ``bias``) plus any ``branches`` (terms of the same form without a bias,
e.g. a residual shortcut). In the ANN an optional ReLU follows. A network is a list of stages
in topological order; source -1 is the network input, and a chain has ``sources == (l-1,)``
and no branches. This module also counts a term's exact fan-in and fan-out (thesis Sec.
2.1.2.5); :mod:`.graph` runs the ANN through the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("linear", "conv", "conv1d", "convT", "identity")
"""Synaptic maps: Linear, Conv2d, Conv1d, ConvTranspose2d, and a per-channel scaling
(``identity``: weight (C,), e.g. a residual shortcut without a convolution)."""


@dataclass
class Stage:
    """One spiking layer (or one synaptic term of it): ``pre`` ops on the spikes of
    ``sources``, then a synaptic map of one of :data:`KINDS`; ``branches`` are further terms
    summed into the same neurons' current (see the module docstring)."""

    name: str
    kind: str  # one of KINDS
    weight: torch.Tensor
    bias: torch.Tensor
    pre: list[nn.Module] = field(default_factory=list)
    relu: bool = False
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] | str = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    sources: tuple[int, ...] | None = None  # None: the previous stage (a chain)
    branches: list[Stage] = field(default_factory=list)
    output_padding: tuple[int, ...] = (0, 0)

    def synapse(self, x: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
        """The synaptic map W x (+ b) on a batch of inputs (after ``pre``)."""
        b = self.bias if bias else None
        if self.kind == "linear":
            return F.linear(x, self.weight, b)
        if self.kind == "conv":
            return F.conv2d(x, self.weight, b, self.stride, self.padding, self.dilation,
                            self.groups)
        if self.kind == "conv1d":
            return F.conv1d(x, self.weight, b, self.stride[:1], self.padding
                            if isinstance(self.padding, str) else self.padding[:1],
                            self.dilation[:1], self.groups)
        if self.kind == "convT":
            return F.conv_transpose2d(x, self.weight, b, self.stride, self.padding,
                                      self.output_padding, self.groups, self.dilation)
        if self.kind == "identity":
            z = x * self.weight.view(-1, *([1] * (x.dim() - 2)))
            return z + b.view(-1, *([1] * (x.dim() - 2))) if b is not None else z
        raise ValueError(f"unknown synapse kind {self.kind!r}; one of {KINDS}")

    def terms(self) -> list[Stage]:
        """The stage's own synaptic term and its branches."""
        return [self, *self.branches]

    def ann_forward(self, x: torch.Tensor) -> torch.Tensor:
        """ANN forward of this stage's own term on its input ``x``: pre ops, synapse, ReLU if
        the ANN had one (a stage with branches needs :func:`spikescope.sim.graph.forward`)."""
        for op in self.pre:
            x = op(x)
        z = self.synapse(x)
        return torch.relu(z) if self.relu else z

    @property
    def n_neurons(self) -> int:
        n = 1
        for d in self.out_shape:
            n *= d
        return n

    def copy(self, **changes) -> Stage:
        """A copy (own ``pre`` and ``branches`` lists) with ``changes`` applied."""
        changes.setdefault("pre", list(self.pre))
        changes.setdefault("branches", [b.copy() for b in self.branches])
        return replace(self, **changes)

    def scaled(self, w_scale: float | torch.Tensor, b_scale: float) -> Stage:
        """A copy with W * w_scale and b * b_scale (used by normalization)."""
        return self.copy(weight=self.weight * w_scale, bias=self.bias * b_scale)


POOL_MATRIX_MAX = 64
"""Largest H*W pooled as one matrix product (the matrix is H*W x H'*W', its cost grows with
(H*W)^2). 2x2 pools of spike maps, 2 threads: 8x8 at 256 maps x 8 channels 46 vs 152 us
(matrix faster); 16x16 about equal (13 vs 10 us one sample, 283 vs 302 us for 16 x 64
channels); 28x28 and 32x32 the pool is 3-4x faster (46 vs 11 us, 217 vs 68 us; in the
blocked run on the VGG's 32x32 maps 71 vs 17 ms)."""


def avg_pool(op: nn.AvgPool2d, x: torch.Tensor) -> torch.Tensor:
    """``op(x)`` for a batch of maps (N, C, H, W), as one product with the pooling matrix of
    an H x W plane, faster than ``F.avg_pool2d`` on CPU for small maps and many of them. On
    spikes the window sums are exact, so the values are those of ``op(x)``; maps larger than
    :data:`POOL_MATRIX_MAX` use ``op(x)``."""
    if x.dim() != 4 or x.shape[2] * x.shape[3] > POOL_MATRIX_MAX:
        return op(x)
    N, C, H, W = x.shape
    key = (op.kernel_size, op.stride, op.padding, op.ceil_mode, op.count_include_pad,
           op.divisor_override, H, W, x.dtype, str(x.device))
    m = _POOL_MATRICES.get(key)
    if m is None:
        planes = op(torch.eye(H * W, dtype=x.dtype, device=x.device).view(H * W, 1, H, W))
        m = _POOL_MATRICES[key] = planes.flatten(1), planes.shape[2:]
    mat, (h, w) = m
    return (x.reshape(N * C, H * W) @ mat).view(N, C, h, w)


_POOL_MATRICES: dict[tuple, tuple[torch.Tensor, torch.Size]] = {}


def pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def fan_out(stage: Stage) -> torch.Tensor:
    """Exact fan-out of every input neuron of ``stage`` (flat, per input neuron).

    Number of postsynaptic neurons each presynaptic neuron connects to, counting pooling as
    a sum over its window and convolution borders exactly (thesis Sec. 2.1.2.5).
    """
    # the count uses autograd: allow it under torch.no_grad() and torch.inference_mode()
    with torch.inference_mode(False), torch.enable_grad():
        return _fan_out(stage).clone()


def _fan_out(stage: Stage) -> torch.Tensor:
    w = torch.ones_like(stage.weight)
    ones_stage = replace(stage, weight=w, bias=torch.zeros_like(stage.bias), pre=[],
                         branches=[])
    x = torch.zeros((1, *stage.in_shape), dtype=w.dtype, requires_grad=True)
    h = x
    for op in stage.pre:
        h = window_sum(op, h) if isinstance(op, POOLS) else op(h)
    y = ones_stage.synapse(h, bias=False)
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    return g.reshape(-1).round()


POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d)


def window_sum(op: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """The connections of pooling ``op``: the sum over each of its windows."""
    if isinstance(op, (nn.AvgPool1d, nn.MaxPool1d)):
        k, st, pad = (_first(v) for v in (op.kernel_size, op.stride or op.kernel_size,
                                          op.padding))
        return F.avg_pool2d(h.unsqueeze(-2), (1, k), (1, st), (0, pad), ceil_mode=op.ceil_mode,
                            count_include_pad=True, divisor_override=1).squeeze(-2)
    return F.avg_pool2d(h, op.kernel_size, op.stride, op.padding, ceil_mode=op.ceil_mode,
                        count_include_pad=True, divisor_override=1)


def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


@torch.no_grad()
def fan_in(stage: Stage) -> torch.Tensor:
    """Exact fan-in of every neuron of ``stage`` (flat), all its terms together: the
    connections (MACs in the ANN) into it from the terms' inputs after pooling; fewer at
    padded convolution borders."""
    total = 0
    for term in stage.terms():
        h = torch.zeros((1, *term.in_shape), dtype=term.weight.dtype, device=term.weight.device)
        for op in term.pre:
            h = op(h)
        ones = replace(term, weight=torch.ones_like(term.weight),
                       bias=torch.zeros_like(term.bias), pre=[], branches=[])
        total = total + ones.synapse(torch.ones_like(h), bias=False).reshape(-1).round()
    return total
