"""Parse a torch ANN into weight layers ("stages") with BatchNorm folded.

A stage is one layer of spiking neurons: the pooling/flatten ops applied to the incoming
spikes (``pre``), then a Linear or Conv2d synaptic map with weights ``weight`` and bias
``bias``, then (in the ANN) an optional ReLU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import fx, nn

SUPPORTED_LAYERS = ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "AvgPool2d",
                    "MaxPool2d", "Flatten", "Dropout", "Identity")


class ConversionError(ValueError):
    """The model cannot be converted: names the offending layer and what is supported."""


def _unsupported(what: str) -> ConversionError:
    return ConversionError(f"unsupported layer {what}; spikescope converts "
                           f"{', '.join(SUPPORTED_LAYERS)} (BatchNorm is folded into the "
                           f"preceding Linear/Conv2d; Dropout and Identity are dropped)")


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


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def leaf_layers(model: nn.Module) -> list[nn.Module]:
    """The model's layers in execution order (nn.Sequential or a traceable linear chain)."""
    if isinstance(model, nn.Sequential):
        out: list[nn.Module] = []
        for m in model:
            out.extend(leaf_layers(m) if isinstance(m, nn.Sequential) else [m])
        return out
    if type(model) in (nn.Linear, nn.Conv2d):
        return [model]
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as e:  # noqa: BLE001 - any trace failure means "not a simple chain"
        raise ConversionError(f"cannot trace {type(model).__name__} into a chain of layers "
                              f"({e}); wrap the layers in nn.Sequential") from e
    modules = dict(model.named_modules())
    out = []
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            out.extend(leaf_layers(modules[node.target]) if isinstance(
                modules[node.target], nn.Sequential) else [modules[node.target]])
        elif node.op == "call_function" and node.target in (F.relu, torch.relu):
            out.append(nn.ReLU())
        elif node.op == "call_function" and node.target is torch.flatten:
            out.append(nn.Flatten())
        elif node.op == "call_method" and node.target in ("view", "reshape", "flatten"):
            out.append(nn.Flatten())
        elif node.op == "call_method" and node.target == "relu":
            out.append(nn.ReLU())
        else:
            target = getattr(node.target, "__name__", node.target)
            raise _unsupported(f"'{node.name}' ({node.op} {target})")
    return out


def _fold_bn(stage: Stage, bn: nn.Module) -> None:
    """Fold BatchNorm into the stage: W' = W g/s, b' = beta + (b - mu) g/s, s = sqrt(var+eps)."""
    if bn.running_mean is None:
        raise ConversionError(f"{bn} has no running statistics (track_running_stats=False)")
    s = torch.sqrt(bn.running_var + bn.eps)
    g = bn.weight if bn.affine else torch.ones_like(s)
    beta = bn.bias if bn.affine else torch.zeros_like(s)
    scale = (g / s).detach()
    shape = (-1,) + (1,) * (stage.weight.dim() - 1)
    stage.weight = stage.weight * scale.reshape(shape)
    stage.bias = beta.detach() + (stage.bias - bn.running_mean) * scale


def parse(model: nn.Module, input_shape: tuple[int, ...]) -> list[Stage]:
    """Turn ``model`` into stages, folding BatchNorm; checks shapes with a dummy forward."""
    layers = leaf_layers(model)
    stages: list[Stage] = []
    pending: list[nn.Module] = []
    n_conv = n_fc = 0
    for m in layers:
        kind = type(m).__name__
        if isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        if isinstance(m, nn.Linear):
            n_fc += 1
            b = m.bias.detach().clone() if m.bias is not None else torch.zeros(m.out_features)
            stages.append(Stage(f"fc{n_fc}", "linear", m.weight.detach().clone(), b,
                                pre=pending))
            pending = []
        elif isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise _unsupported(f"Conv2d with padding_mode={m.padding_mode!r} (only zeros)")
            n_conv += 1
            b = m.bias.detach().clone() if m.bias is not None else torch.zeros(m.out_channels)
            pad = m.padding if isinstance(m.padding, str) else _pair(m.padding)
            stages.append(Stage(f"conv{n_conv}", "conv", m.weight.detach().clone(), b,
                                pre=pending, stride=_pair(m.stride), padding=pad,
                                dilation=_pair(m.dilation), groups=m.groups))
            pending = []
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not stages or pending or stages[-1].relu:
                raise ConversionError(f"{kind} must directly follow a Linear or Conv2d layer "
                                      f"to be folded into it")
            _fold_bn(stages[-1], m)
        elif isinstance(m, nn.ReLU):
            if not stages:
                raise ConversionError("ReLU before the first Linear/Conv2d layer is not supported")
            if any(isinstance(p, nn.AvgPool2d) for p in pending):
                raise ConversionError("ReLU after AvgPool2d is not supported: put the ReLU "
                                      "before the pooling")
            stages[-1].relu = True
        elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d, nn.Flatten)):
            if isinstance(m, nn.MaxPool2d) and (m.dilation != 1 or m.ceil_mode):
                raise _unsupported(f"MaxPool2d with dilation={m.dilation}, ceil_mode={m.ceil_mode}")
            if isinstance(m, nn.AvgPool2d) and (m.ceil_mode or m.divisor_override):
                raise _unsupported("AvgPool2d with ceil_mode or divisor_override")
            pending.append(copy.deepcopy(m))
        else:
            raise _unsupported(f"'{kind}' ({m})")
    if not stages:
        raise ConversionError("the model has no Linear or Conv2d layer to convert")
    if pending:
        raise ConversionError(f"the model ends with {[type(p).__name__ for p in pending]}; "
                              f"the last layer must be Linear or Conv2d")
    for s in stages:
        if s.weight.numel() == 0:
            raise ConversionError(f"layer {s.name} has zero size (weight shape "
                                  f"{tuple(s.weight.shape)}); every layer needs at least one "
                                  f"input and one output")
        if not (torch.isfinite(s.weight).all() and torch.isfinite(s.bias).all()):
            raise ConversionError(f"layer {s.name} has NaN or infinite weights or biases "
                                  f"(after BatchNorm folding)")
    _infer_shapes(stages, input_shape)
    return stages


def _infer_shapes(stages: list[Stage], input_shape: tuple[int, ...]) -> None:
    x = torch.zeros((1, *input_shape), dtype=stages[0].weight.dtype)
    for s in stages:
        s.in_shape = tuple(x.shape[1:])
        try:
            x = s.ann_forward(x)
        except RuntimeError as e:
            raise ConversionError(f"layer {s.name} does not accept input of shape "
                                  f"{tuple(s.in_shape)} (from input shape {input_shape}): "
                                  f"{e}") from e
        s.out_shape = tuple(x.shape[1:])


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
