"""Parse a torch ANN into stages (:class:`spikescope.sim.stages.Stage`), BatchNorm folded."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..sim.stages import Stage, pair

SUPPORTED_LAYERS = ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "AvgPool2d",
                    "MaxPool2d", "Flatten", "Dropout", "Identity")


from ..errors import ConversionError as ConversionError  # noqa: E402 - the hierarchy


def _unsupported(what: str) -> ConversionError:
    return ConversionError(f"unsupported layer {what}; spikescope converts "
                           f"{', '.join(SUPPORTED_LAYERS)} (BatchNorm is folded into the "
                           f"preceding Linear/Conv2d; Dropout and Identity are dropped)")


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
            pad = m.padding if isinstance(m.padding, str) else pair(m.padding)
            stages.append(Stage(f"conv{n_conv}", "conv", m.weight.detach().clone(), b,
                                pre=pending, stride=pair(m.stride), padding=pad,
                                dilation=pair(m.dilation), groups=m.groups))
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
    infer_shapes(stages, input_shape)
    return stages


def infer_shapes(stages: list[Stage], input_shape: tuple[int, ...]) -> None:
    """Set every stage's ``in_shape``/``out_shape`` by a forward pass of one zero input."""
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


