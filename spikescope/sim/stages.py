"""Stages: the layers of a converted network as the simulator sees them.

A stage is one layer of spiking neurons: the pooling/flatten ops applied to the incoming
spikes (``pre``), then a Linear or Conv2d synaptic map with weights ``weight`` and bias
``bias``, then (in the ANN) an optional ReLU. This module also counts a stage's exact fan-in
and fan-out (thesis Sec. 2.1.2.5) and runs the ANN through a list of stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Stage:
    """One spiking layer: ``pre`` ops on incoming spikes, then a Linear/Conv2d map."""

    name: str
    kind: str  # "linear" or "conv"
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

    def synapse(self, x: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
        """The synaptic map W x (+ b) on a batch of inputs (after ``pre``)."""
        b = self.bias if bias else None
        if self.kind == "linear":
            return F.linear(x, self.weight, b)
        return F.conv2d(x, self.weight, b, self.stride, self.padding, self.dilation, self.groups)

    def ann_forward(self, x: torch.Tensor) -> torch.Tensor:
        """ANN forward of this stage: pre ops, synapse, ReLU if the ANN had one."""
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

    def scaled(self, w_scale: float, b_scale: float) -> Stage:
        """A copy with W * w_scale and b * b_scale (used by normalization)."""
        return replace(self, weight=self.weight * w_scale, bias=self.bias * b_scale,
                       pre=list(self.pre))


POOL_MATRIX_MAX = 1024
"""Largest H*W pooled as one matrix product (the matrix is H*W x H'*W')."""


def avg_pool(op: nn.AvgPool2d, x: torch.Tensor) -> torch.Tensor:
    """``op(x)`` for a batch of maps (N, C, H, W), as one product with the pooling matrix of
    an H x W plane: 2-4x faster than ``F.avg_pool2d`` on CPU. On spikes the window sums are
    exact, so the values are those of ``op(x)``; larger maps use ``op(x)``."""
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
    ones_stage = replace(stage, weight=w, bias=torch.zeros_like(stage.bias), pre=[])
    x = torch.zeros((1, *stage.in_shape), dtype=w.dtype, requires_grad=True)
    h = x
    for op in stage.pre:
        if isinstance(op, (nn.AvgPool2d, nn.MaxPool2d)):
            h = F.avg_pool2d(h, op.kernel_size, op.stride, op.padding, divisor_override=1)
        else:
            h = op(h)
    y = ones_stage.synapse(h, bias=False)
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    return g.reshape(-1).round()


@torch.no_grad()
def fan_in(stage: Stage) -> torch.Tensor:
    """Exact fan-in of every neuron of ``stage`` (flat): the connections (MACs in the ANN)
    into it from the layer's input after pooling; fewer at padded convolution borders."""
    h = torch.zeros((1, *stage.in_shape), dtype=stage.weight.dtype, device=stage.weight.device)
    for op in stage.pre:
        h = op(h)
    ones = replace(stage, weight=torch.ones_like(stage.weight),
                   bias=torch.zeros_like(stage.bias), pre=[])
    return ones.synapse(torch.ones_like(h), bias=False).reshape(-1).round()


@torch.no_grad()
def stage_activations(stages: list[Stage], x: torch.Tensor,
                      batch_size: int = 512) -> list[torch.Tensor]:
    """ANN activations after each stage (ReLU applied), flattened to (B, N) per stage."""
    outs: list[list[torch.Tensor]] = [[] for _ in stages]
    for i in range(0, len(x), batch_size):
        h = x[i:i + batch_size]
        for l, s in enumerate(stages):
            h = s.ann_forward(h)
            outs[l].append(torch.relu(h).reshape(len(h), -1))
    return [torch.cat(o) for o in outs]
