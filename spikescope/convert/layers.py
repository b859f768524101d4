"""The layers :mod:`.parse` converts: synaptic maps as stage terms, BatchNorm folding,
pooling and reshaping ops on spikes, and how to name an unsupported op."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConversionError
from ..sim.stages import Stage, pair

SYNAPTIC = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)
BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d)
DROPPED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
           nn.FeatureAlphaDropout, nn.Identity)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
         nn.AdaptiveAvgPool2d)
SUPPORTED_LAYERS = ("Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "BatchNorm1d",
                    "BatchNorm2d", "ReLU", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d",
                    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "Upsample (nearest)", "Flatten",
                    "Dropout (all kinds)", "Identity")
SUPPORTED_OPS = ("F.relu", "torch.relu", "F.max_pool2d", "F.avg_pool2d", "F.adaptive_avg_pool2d",
                 "F.interpolate (nearest)", "F.dropout", "torch.flatten", "torch.cat (dim 1)",
                 "+ / torch.add", "x.mean((2, 3))", "x.view / x.reshape (B, -1)")


def unsupported(what: str) -> ConversionError:
    """The error for an op spikescope cannot convert, listing what it can."""
    return ConversionError(
        f"unsupported {what}; spikescope converts the layers {', '.join(SUPPORTED_LAYERS)} "
        f"and the operations {', '.join(SUPPORTED_OPS)} (BatchNorm is folded into the "
        f"preceding Linear/Conv; Dropout and Identity are dropped in eval mode)")


def synaptic_term(m: nn.Module, sources: tuple[int, ...], pre: list[nn.Module],
                  name: str) -> tuple[Stage, torch.Tensor]:
    """A stage term for Linear/Conv1d/Conv2d/ConvTranspose2d ``m`` and its bias."""
    if isinstance(m, nn.Linear):
        term = Stage(name, "linear", m.weight.detach().clone(), torch.zeros(m.out_features),
                     pre=pre, sources=sources)
        return term, _bias(m, m.out_features)
    if m.padding_mode != "zeros":
        raise unsupported(f"layer '{name}' ({type(m).__name__} with padding_mode="
                          f"{m.padding_mode!r}; only zeros)")
    pad = m.padding if isinstance(m.padding, str) else pair(m.padding)
    if isinstance(m, nn.Conv1d):
        pad = pad if isinstance(pad, str) else (pad[0], 0)
        term = Stage(name, "conv1d", m.weight.detach().clone(), torch.zeros(m.out_channels),
                     pre=pre, sources=sources, stride=(m.stride[0], 1), padding=pad,
                     dilation=(m.dilation[0], 1), groups=m.groups)
    elif isinstance(m, nn.ConvTranspose2d):
        term = Stage(name, "convT", m.weight.detach().clone(), torch.zeros(m.out_channels),
                     pre=pre, sources=sources, stride=pair(m.stride), padding=pad,
                     dilation=pair(m.dilation), groups=m.groups,
                     output_padding=pair(m.output_padding))
    else:
        term = Stage(name, "conv", m.weight.detach().clone(), torch.zeros(m.out_channels),
                     pre=pre, sources=sources, stride=pair(m.stride), padding=pad,
                     dilation=pair(m.dilation), groups=m.groups)
    return term, _bias(m, m.out_channels)


def _bias(m: nn.Module, n: int) -> torch.Tensor:
    return m.bias.detach().clone() if m.bias is not None else torch.zeros(n)


def identity_term(channels: int, sources: tuple[int, ...], pre: list[nn.Module],
                  name: str) -> Stage:
    """A term passing its input on unchanged (weight 1 per channel): a residual shortcut."""
    return Stage(name, "identity", torch.ones(channels), torch.zeros(channels), pre=pre,
                 sources=sources)


def fold_bn(terms: list[Stage], bias: torch.Tensor, bn: nn.Module, name: str) -> torch.Tensor:
    """Fold BatchNorm ``bn`` into the affine sum of ``terms`` + ``bias`` (in place for the
    terms): W' = W g/s, b' = beta + (b - mu) g/s, s = sqrt(var + eps); returns b'."""
    if bn.running_mean is None:
        raise ConversionError(f"BatchNorm '{name}' has no running statistics "
                              f"(track_running_stats=False), so it cannot be folded")
    s = torch.sqrt(bn.running_var + bn.eps)
    g = bn.weight if bn.affine else torch.ones_like(s)
    beta = bn.bias if bn.affine else torch.zeros_like(s)
    scale = (g / s).detach()
    for t in terms:
        if t.kind == "convT":  # weight (in, out/groups, kh, kw)
            if t.groups != 1:
                raise unsupported(f"BatchNorm '{name}' after a grouped ConvTranspose2d")
            t.weight = t.weight * scale.reshape(1, -1, *([1] * (t.weight.dim() - 2)))
        else:
            t.weight = t.weight * scale.reshape(-1, *([1] * (t.weight.dim() - 1)))
    return beta.detach() + (bias - bn.running_mean) * scale


def pool_op(kind: str, x: torch.Tensor, *, kernel, stride=None, padding=0,
            ceil_mode: bool = False, count_include_pad: bool = True) -> nn.Module:
    """An nn pooling module equivalent to functional pooling ``kind`` on ``x``."""
    two_d = x.dim() == 4
    if kind == "max":
        cls = nn.MaxPool2d if two_d else nn.MaxPool1d
        return cls(kernel, stride, padding, ceil_mode=ceil_mode)
    cls = nn.AvgPool2d if two_d else nn.AvgPool1d
    return cls(kernel, stride, padding, ceil_mode=ceil_mode,
               count_include_pad=count_include_pad)


def adaptive_avg(size, x: torch.Tensor, name: str) -> nn.Module:
    """Adaptive average pooling to ``size`` on ``x`` as average pooling with a fixed window;
    ConversionError when the input size is not a multiple of the output size."""
    spatial = tuple(x.shape[2:])
    size = (size,) * len(spatial) if isinstance(size, int) or size is None else tuple(size)
    size = tuple(s if o is None else o for s, o in zip(spatial, size))
    if any(s % o for s, o in zip(spatial, size)):
        raise ConversionError(f"adaptive average pool '{name}' from {spatial} to {size}: the "
                              f"input size must be a multiple of the output size (windows "
                              f"of unequal size are not one average pool)")
    kernel = tuple(s // o for s, o in zip(spatial, size))
    cls = nn.AvgPool2d if len(spatial) == 2 else nn.AvgPool1d
    return cls(kernel if len(kernel) == 2 else kernel[0])


def check_pool(m: nn.Module, name: str) -> nn.Module:
    """A copy of pooling module ``m``, or ConversionError for options spikescope lacks."""
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) and (
            m.dilation not in (1, (1, 1)) or m.return_indices):
        raise unsupported(f"layer '{name}' ({type(m).__name__} with dilation or "
                          f"return_indices)")
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)) and getattr(m, "divisor_override", None):
        raise unsupported(f"layer '{name}' ({type(m).__name__} with divisor_override)")
    return copy.deepcopy(m)


def upsample_op(scale, mode: str, size, x: torch.Tensor, name: str) -> nn.Module:
    """Nearest upsampling by an integer factor (a fan-out copy of every spike)."""
    if mode != "nearest":
        raise unsupported(f"upsampling '{name}' with mode={mode!r} (only 'nearest': bilinear "
                          f"interpolation does not turn spikes into spikes)")
    spatial = tuple(x.shape[2:])
    if size is not None:
        size = (size,) * len(spatial) if isinstance(size, int) else tuple(size)
        scale = tuple(o / s for o, s in zip(size, spatial))
    scale = (scale,) * len(spatial) if not isinstance(scale, (tuple, list)) else tuple(scale)
    if any(float(s) != int(s) or s < 1 for s in scale):
        raise unsupported(f"upsampling '{name}' by {scale} (only whole factors)")
    return nn.Upsample(scale_factor=tuple(float(s) for s in scale), mode="nearest")


FUNCTIONAL_POOLS = {F.max_pool1d: "max", F.max_pool2d: "max", F.avg_pool1d: "avg",
                    F.avg_pool2d: "avg"}
