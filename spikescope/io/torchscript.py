"""TorchScript archives (``torch.jit.save``) rebuilt as plain ``nn.Sequential`` models.

The archive is checked first (:func:`.safety.check_torchscript_archive`); the loaded module's
layers are then copied into a plain ``nn.Sequential`` (following the calls in its forward graph,
which is read, not run), so no TorchScript code runs afterwards.
"""

from __future__ import annotations

import io as _io
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError, UnsupportedLayer
from .safety import check_torchscript_archive

_PLAIN = (int, bool, float, str)


def _ts_attr(m: Any, name: str, default: Any = None) -> Any:
    """Attribute ``name`` of a loaded TorchScript module, only if it is a tensor or a plain
    int/bool/float/str (or a tuple/list of them): a TorchScript object could run its code when
    used (``int(obj)`` calls its ``__index__``), so nothing else is ever touched."""
    try:
        v = getattr(m, name)
    except (AttributeError, RuntimeError):
        return default
    if v is None or isinstance(v, torch.Tensor) or type(v) in _PLAIN:
        return v
    if type(v) in (tuple, list) and all(type(e) in _PLAIN for e in v):
        return tuple(v)
    raise ModelLoadError(f"TorchScript attribute {name!r} of {_ts_kind(m)} is a "
                         f"{type(v).__name__}, not a plain int/bool/float/tuple; refused")


def _ts_kind(m: Any) -> str:
    kind = getattr(m, "original_name", "?")
    return kind if type(kind) is str else "?"


def _ts_hyper(m: Any, kind: str, *names: str) -> None:
    """Refuse a TorchScript layer whose hyper-parameters were not kept (``torch.jit.trace``
    stores only tensors): guessing stride or padding would build a different network."""
    missing = [n for n in names if _ts_attr(m, n) is None]
    if missing:
        raise ModelLoadError(f"TorchScript {kind} does not record {', '.join(missing)} (a "
                             f"traced module keeps only its tensors); export the model with "
                             f"torch.jit.script, ONNX or as a state dict instead")


def _copy_params(dst: nn.Module, src: Any) -> nn.Module:
    with torch.no_grad():
        for k, v in list(dst.named_parameters(recurse=False)) + list(
                dst.named_buffers(recurse=False)):
            s = _ts_attr(src, k)
            if s is None or not isinstance(s, torch.Tensor):
                raise ModelLoadError(f"TorchScript {type(dst).__name__} has no tensor {k!r}")
            if s.shape != v.shape:
                setattr(dst, k, nn.Parameter(s.detach().clone(), requires_grad=False)
                        if isinstance(v, nn.Parameter) else s.detach().clone())
            else:
                v.copy_(s)
    return dst


def _plain_layer(m: Any) -> nn.Module:
    """A plain torch copy of one TorchScript leaf layer (or UnsupportedLayer)."""
    kind = _ts_kind(m)
    if kind == "Linear":
        w = _ts_attr(m, "weight")
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            raise ModelLoadError("TorchScript Linear has no 2-D tensor 'weight'")
        b = _ts_attr(m, "bias")
        out = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        return _copy_params(out, m)
    if kind == "Conv2d":
        _ts_hyper(m, kind, "stride", "padding", "dilation")
        w = _ts_attr(m, "weight")
        if not isinstance(w, torch.Tensor) or w.dim() != 4:
            raise ModelLoadError("TorchScript Conv2d has no 4-D tensor 'weight'")
        b = _ts_attr(m, "bias")
        groups = int(_ts_attr(m, "groups", 1))
        pad = _ts_attr(m, "padding", 0)
        pad_mode = _ts_attr(m, "padding_mode", "zeros")
        out = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),
                        stride=tuple(_ts_attr(m, "stride", (1, 1))),
                        padding=pad if isinstance(pad, str) else tuple(pad),
                        dilation=tuple(_ts_attr(m, "dilation", (1, 1))), groups=groups,
                        bias=b is not None, padding_mode=pad_mode)
        return _copy_params(out, m)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        rm = _ts_attr(m, "running_mean")
        if rm is None:
            return UnsupportedLayer(kind, "without running statistics")
        w = _ts_attr(m, "weight")
        out = getattr(nn, kind)(rm.shape[0], eps=float(_ts_attr(m, "eps", 1e-5)),
                                affine=w is not None)
        return _copy_params(out, m)
    if kind in ("AvgPool2d", "MaxPool2d"):
        _ts_hyper(m, kind, "kernel_size", "stride")
        opts = dict(kernel_size=_ts_attr(m, "kernel_size"), stride=_ts_attr(m, "stride"),
                    padding=_ts_attr(m, "padding", 0), ceil_mode=_ts_attr(m, "ceil_mode", False))
        if kind == "MaxPool2d":
            opts["dilation"] = _ts_attr(m, "dilation", 1)
        else:
            opts["count_include_pad"] = _ts_attr(m, "count_include_pad", True)
            opts["divisor_override"] = _ts_attr(m, "divisor_override")
        return getattr(nn, kind)(**opts)
    if kind == "Flatten":
        return nn.Flatten(int(_ts_attr(m, "start_dim", 1)), int(_ts_attr(m, "end_dim", -1)))
    if kind == "ReLU":
        return nn.ReLU()
    if kind in ("Dropout", "Identity"):
        return nn.Identity()
    return UnsupportedLayer(kind)


_TS_FUNCTIONS = {"aten::relu": nn.ReLU, "aten::relu_": nn.ReLU, "aten::flatten": nn.Flatten,
                 "aten::view": nn.Flatten, "aten::reshape": nn.Flatten,
                 "aten::dropout": nn.Identity}
_TS_CALLED = {"relu": nn.ReLU, "dropout": nn.Identity, "flatten": nn.Flatten}
_TS_IGNORED = ("prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct",
               "aten::size", "prim::NumToTensor", "aten::Int", "prim::device", "prim::dtype")


def _plain_from_script(m: Any) -> nn.Module:
    """Rebuild a TorchScript module as nn.Sequential, following its forward graph's calls."""
    if not list(m.named_children()):
        return _plain_layer(m)
    children = dict(m.named_children())
    if _ts_kind(m) == "Sequential":
        return nn.Sequential(*[_plain_from_script(c) for c in children.values()])
    getattr_names: dict[Any, str] = {}
    layers: list[nn.Module] = []
    for node in m.graph.nodes():
        k = node.kind()
        if k == "prim::GetAttr":
            getattr_names[node.output()] = node.s("name")
        elif k == "prim::CallMethod":
            target = getattr_names.get(next(node.inputs()))
            if target not in children:
                layers.append(UnsupportedLayer("method call", str(target)))
            else:
                layers.append(_plain_from_script(children[target]))
        elif k == "prim::CallFunction":
            fn = next(node.inputs()).node()
            fname = fn.s("name") if fn.kind() == "prim::Constant" and fn.hasAttribute("name") \
                else "?"
            layer = _TS_CALLED.get(fname)
            layers.append(layer() if layer else UnsupportedLayer(f"function {fname}"))
        elif k in _TS_FUNCTIONS:
            layers.append(_TS_FUNCTIONS[k]())
        elif k not in _TS_IGNORED:
            layers.append(UnsupportedLayer(k))
    return nn.Sequential(*layers)


def load_torchscript(data: bytes, name: str, max_total: int | None = None) -> nn.Module:
    """The TorchScript archive ``data`` as a plain ``nn.Sequential`` in eval mode."""
    what = f"{name} (TorchScript)"
    check_torchscript_archive(data, what, max_total)
    try:
        script = torch.jit.load(_io.BytesIO(data), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and friends
        raise ModelLoadError(f"{what}: cannot be loaded, corrupt or truncated ({e})") from e
    model = _plain_from_script(script)
    if not isinstance(model, nn.Sequential):
        model = nn.Sequential(model)
    model.input_shape = None  # TorchScript does not record it
    return model.eval()
