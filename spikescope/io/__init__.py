"""Load user models safely, exchange spiking networks as NIR, export and reload runs.

Loading (:func:`load_model`) accepts four formats, detected from the file's bytes:

- **safetensors** state dict (tensors only, no code by construction);
- **torch.save** state dict (``.pt``/``.pth``), read with ``torch.load(weights_only=True)``;
- **TorchScript** archive (``torch.jit.save``);
- **ONNX** graph (how Keras/TensorFlow users bring models), read with the ``onnx`` package and
  mapped op by op onto torch layers (Gemm, MatMul(+Add), Conv, Relu, MaxPool, AveragePool,
  BatchNormalization, Flatten, Reshape; Dropout and Identity are dropped).

Nothing that could execute code on load is ever unpickled. Pickles (the ``data.pkl`` of a
torch.save or TorchScript zip, or a bare legacy pickle) are first *scanned statically* with
:mod:`pickletools`: every ``GLOBAL``/``STACK_GLOBAL`` opcode names the callable the pickle would
import and call, and the file is refused with :class:`UnsafeModelError` unless every such name
is on :data:`SAFE_PICKLE_GLOBALS` (tensor/storage rebuilders, ``OrderedDict``) or is a
TorchScript class (``__torch__.*``, resolved by TorchScript's C++ unpickler to compiled
TorchScript classes, never to Python objects). Only then is the pickle read, and for state dicts
with ``torch.load(weights_only=True)`` (whose restricted unpickler is a second line of defence).
TorchScript code (``code/*.py`` in the archive) is checked to call only the ``aten``/``prim``
operator namespaces and none of the operators that touch files (e.g. ``aten::from_file``);
code defining ``__setstate__`` (the only TorchScript code that runs during loading) is
refused, so loading runs no model code at all. The loaded module's layers are then copied
into a plain ``nn.Sequential`` (following the calls in its forward graph, which is read, not
run), so no TorchScript code runs afterwards either. ONNX and safetensors files hold no code;
they are parsed as data. A size limit (:data:`DEFAULT_MAX_BYTES`, ``max_bytes=``) is checked before
any byte is parsed.

NIR (https://neuroir.org), the interchange format read by snnTorch, Norse, Sinabs, Lava,
Rockpool and the SpiNNaker2 tools: :func:`to_nir` / :func:`from_nir`, :func:`save_nir` /
:func:`load_nir`. Runs: :func:`save_run` / :func:`load_run` (one ``.npz`` of arrays plus a JSON
header; no pickle), enough to redraw every figure of a run.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..convert.parse import SUPPORTED_LAYERS, ConversionError, infer_shapes, leaf_layers, parse
from ..neurons import NeuronParams
from ..sim.network import CODES, SpikingNetwork
from ..sim.recording import Recording
from ..sim.stages import Stage

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Largest model file :func:`load_model` reads by default (bytes); pass ``max_bytes=``."""

SAFE_PICKLE_GLOBALS = frozenset({
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_tensor",
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_tensor_from_id", "torch.jit._pickle.restore_type_tag",
    "torch.device", "torch.Size", "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout", "builtins.set",
} | {f"torch.{t}Storage" for t in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                    "Short", "Char", "Byte", "Bool", "Untyped")}
  | {f"torch.{t}" for t in ("float32", "float64", "float16", "bfloat16", "int64", "int32",
                            "int16", "int8", "uint8", "bool")})
"""Names a pickle may import: tensor and storage rebuilders, containers, dtypes."""

_TS_OP_NAMESPACES = ("aten", "prim")
_TS_FORBIDDEN = re.compile(r"\b(from_file|_load_for_\w+|save|load|open|system|exec|eval)\s*\(")

_ONNX_SUPPORTED = ("Gemm", "MatMul", "Add", "Conv", "Relu", "MaxPool", "AveragePool",
                   "BatchNormalization", "Flatten", "Reshape", "Dropout", "Identity")


class ModelLoadError(ValueError):
    """A model file cannot be read: corrupt, truncated, too large, or of an unknown format."""


class UnsafeModelError(ModelLoadError):
    """A model file would run code when loaded; it was refused and nothing was executed."""


class RunFileError(ValueError):
    """A run file (from :func:`save_run`) is corrupt or not a spikescope run."""


# =============================================================================== loading
def _read_input(path_or_bytes: str | os.PathLike | bytes | bytearray | _io.IOBase,
                max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and a name for messages; the size limit is checked before reading."""
    if max_bytes is None or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes}")
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_bytes), "<bytes>"
        if len(data) > max_bytes:
            raise ModelLoadError(f"model of {len(data)} bytes exceeds the size limit of "
                                 f"{max_bytes} bytes (max_bytes=)")
    elif hasattr(path_or_bytes, "read"):
        name = "<stream>"
        data = path_or_bytes.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ModelLoadError(f"model stream exceeds the size limit of {max_bytes} bytes "
                                 f"(max_bytes=)")
    else:
        path = Path(path_or_bytes)
        name = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        size = path.stat().st_size
        if size > max_bytes:
            raise ModelLoadError(f"{path}: {size} bytes exceeds the size limit of {max_bytes} "
                                 f"bytes (max_bytes=)")
        data = path.read_bytes()
    if len(data) == 0:
        raise ModelLoadError(f"{name}: the file is empty")
    return data, name


def detect_format(data: bytes) -> str:
    """Guess the format of a model file from its bytes.

    Returns "torchscript", "torch" (torch.save zip), "pickle" (legacy pickle), "safetensors"
    or "onnx"; raises :class:`ModelLoadError` if none fits.
    """
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(_io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, EOFError) as e:
            raise ModelLoadError(f"corrupt or truncated zip archive (torch/TorchScript): "
                                 f"{e}") from e
        if any("/code/" in n or n.startswith("code/") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        raise ModelLoadError("zip archive is neither a torch.save file nor a TorchScript "
                             "archive (no data.pkl)")
    if data[:1] == b"\x80" or data[:1] in (b"(", b"}", b"]", b"c"):
        return "pickle"
    if len(data) >= 9 and data[8:9] == b"{":
        return "safetensors"
    if data[:1] == b"\x08":  # protobuf field 1 (ir_version) varint: an ONNX ModelProto
        return "onnx"
    raise ModelLoadError("unknown model format: expected safetensors, torch.save state dict, "
                         "TorchScript (.pt) or ONNX (.onnx)")


def scan_pickle(data: bytes, *, what: str = "pickle",
                allow_torchscript_classes: bool = False) -> list[str]:
    """Statically list the globals a pickle would import; raise if any is not safe.

    Reads opcodes only (:func:`pickletools.genops`), never executes the pickle. A truncated
    or malformed pickle raises :class:`ModelLoadError`; an unsafe global raises
    :class:`UnsafeModelError` naming it.
    """
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8",
                           "SHORT_BINSTRING", "BINSTRING", "STRING"):
                strings.append(arg if isinstance(arg, str) else str(arg))
            elif op.name == "GLOBAL":
                found.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                if len(strings) < 2:
                    raise UnsafeModelError(f"{what}: STACK_GLOBAL with computed name; refused")
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif op.name in ("INST", "OBJ"):
                if op.name == "INST":
                    found.append(str(arg).replace(" ", "."))
                else:
                    raise UnsafeModelError(f"{what}: OBJ opcode (builds arbitrary objects); "
                                           f"refused")
    except UnsafeModelError:
        raise
    except Exception as e:  # noqa: BLE001 - pickletools raises ValueError and friends
        raise ModelLoadError(f"{what}: corrupt or truncated pickle ({e})") from e
    for g in found:
        if g in SAFE_PICKLE_GLOBALS:
            continue
        if allow_torchscript_classes and g.startswith("__torch__."):
            continue
        raise UnsafeModelError(
            f"{what} would import and call {g!r} when loaded, which can run arbitrary code; "
            f"the file was refused and not executed. Save the weights with safetensors or "
            f"torch.save(model.state_dict()) instead.")
    return found


def _check_zip(data: bytes, what: str) -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(_io.BytesIO(data))
        bad = z.testzip()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
        raise ModelLoadError(f"{what}: corrupt or truncated zip archive ({e})") from e
    except Exception as e:  # noqa: BLE001 - zlib errors etc. on damaged members
        raise ModelLoadError(f"{what}: corrupt zip archive ({type(e).__name__}: {e})") from e
    if bad is not None:
        raise ModelLoadError(f"{what}: member {bad!r} of the zip archive is corrupt (CRC)")
    return z


def _state_dict_from_torch(data: bytes, fmt: str, name: str) -> dict[str, torch.Tensor]:
    what = f"{name} (torch.save file)"
    if fmt == "torch":
        z = _check_zip(data, what)
        for n in z.namelist():
            if n.endswith(".pkl"):
                scan_pickle(z.read(n), what=f"{what} member {n}")
    else:
        # the legacy (pre-zip) torch format is up to five pickles in a row (magic number,
        # protocol, system info, the object, storage keys), then raw storage bytes
        stream = _io.BytesIO(data)
        for _ in range(5):
            start = stream.tell()
            if start >= len(data):
                break
            scan_pickle(data[start:], what=what)
            for _ in pickletools.genops(stream):  # skip to the end of this pickle
                pass
    try:
        obj = torch.load(_io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the restricted unpickler raises many types
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise UnsafeModelError(f"{what} would run code when loaded; refused ({e})") from e
        raise ModelLoadError(f"{what}: cannot be read, corrupt or truncated ({e})") from e
    return _as_state_dict(obj, what)


def _as_state_dict(obj: Any, what: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ModelLoadError(f"{what}: expected a state dict (name -> tensor), got "
                             f"{type(obj).__name__}{' (empty)' if obj == {} else ''}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"{what}: entries {bad[:5]} are not tensors; expected a state dict")
    return {str(k): v for k, v in obj.items()}


def _state_dict_from_safetensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load as st_load

    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ModelLoadError(f"{name}: truncated safetensors file (header of {n} bytes, file "
                             f"has {len(data) - 8})")
    try:
        sd = st_load(data)
    except Exception as e:  # noqa: BLE001 - SafetensorError is not a public class
        raise ModelLoadError(f"{name}: corrupt safetensors file ({e})") from e
    return _as_state_dict(sd, f"{name} (safetensors)")


def _model_for_state_dict(sd: dict[str, torch.Tensor], architecture: str | None,
                          name: str) -> nn.Module:
    from .. import zoo

    def fits(arch: str) -> str | None:
        ref = zoo.architecture(arch).state_dict()
        if set(ref) != set(sd):
            missing, extra = sorted(set(ref) - set(sd)), sorted(set(sd) - set(ref))
            return f"missing keys {missing[:4]}, unexpected keys {extra[:4]}"
        for k, v in ref.items():
            if tuple(v.shape) != tuple(sd[k].shape):
                return f"{k} has shape {tuple(sd[k].shape)}, expected {tuple(v.shape)}"
        return None

    if architecture is None:
        reasons = {a: fits(a) for a in zoo.ARCHITECTURES}
        matches = [a for a, r in reasons.items() if r is None]
        if not matches:
            detail = "; ".join(f"{a}: {r}" for a, r in reasons.items())
            raise ModelLoadError(f"{name}: the state dict matches no known architecture "
                                 f"({detail}); pass architecture= or use TorchScript/ONNX")
        architecture = matches[0]
    elif architecture not in zoo.ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; available: "
                         f"{sorted(zoo.ARCHITECTURES)}")
    else:
        why = fits(architecture)
        if why is not None:
            raise ModelLoadError(f"{name}: the state dict does not fit architecture "
                                 f"{architecture!r}: {why}")
    from ..data import datasets

    model = zoo.architecture(architecture)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    model.architecture = architecture
    x, _ = datasets.load(zoo.dataset_of(architecture), "test")
    model.input_shape = tuple(x.shape[1:])
    return model.eval()


# ------------------------------------------------------------------------ TorchScript
class UnsupportedLayer(nn.Module):
    """Placeholder for a layer spikescope cannot convert (so it can be reported)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__()
        self.kind, self.detail = kind, detail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ConversionError(f"unsupported layer {self.kind} {self.detail}".strip())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}" + (f", {self.detail}" if self.detail else "")


def _ts_attr(m: Any, name: str, default: Any = None) -> Any:
    try:
        return getattr(m, name)
    except (AttributeError, RuntimeError):
        return default


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
    kind = m.original_name
    if kind == "Linear":
        w = m.weight
        b = _ts_attr(m, "bias")
        out = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        return _copy_params(out, m)
    if kind == "Conv2d":
        _ts_hyper(m, kind, "stride", "padding", "dilation")
        w = m.weight
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
    if m.original_name == "Sequential":
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


def _load_torchscript(data: bytes, name: str) -> nn.Module:
    what = f"{name} (TorchScript)"
    z = _check_zip(data, what)
    for n in z.namelist():
        if n.endswith(".pkl") and not n.endswith(".debug_pkl"):
            scan_pickle(z.read(n), what=f"{what} member {n}", allow_torchscript_classes=True)
        elif n.endswith(".debug_pkl"):
            scan_pickle(z.read(n), what=f"{what} member {n}")
        elif "/code/" in n and n.endswith(".py"):
            src = z.read(n).decode("utf-8", "replace")
            for ns in re.findall(r"\bops\.(\w+)\.", src):
                if ns not in _TS_OP_NAMESPACES:
                    raise UnsafeModelError(f"{what}: code {n} calls custom operators "
                                           f"'ops.{ns}' that could run arbitrary code; refused")
            if "__setstate__" in src:
                raise UnsafeModelError(f"{what}: code {n} defines __setstate__, which would run "
                                       f"while loading; refused (standard layers have none)")
            hit = _TS_FORBIDDEN.search(src)
            if hit:
                raise UnsafeModelError(f"{what}: code {n} calls {hit.group(1)!r}, which can "
                                       f"touch files or run code; refused")
    try:
        script = torch.jit.load(_io.BytesIO(data), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and friends
        raise ModelLoadError(f"{what}: cannot be loaded, corrupt or truncated ({e})") from e
    model = _plain_from_script(script)
    if not isinstance(model, nn.Sequential):
        model = nn.Sequential(model)
    model.input_shape = None  # TorchScript does not record it
    return model.eval()


# ------------------------------------------------------------------------ ONNX
def _onnx_attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric_pads(pads: list[int], what: str) -> tuple[int, int]:
    if not pads:
        return (0, 0)
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise ConversionError(f"{what}: asymmetric padding {list(pads)} is not supported")
    return (int(pads[0]), int(pads[1]))


def _load_onnx(data: bytes, name: str, strict: bool) -> nn.Module:
    import onnx
    from onnx import numpy_helper

    what = f"{name} (ONNX)"
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as e:  # noqa: BLE001 - protobuf DecodeError and friends
        raise ModelLoadError(f"{what}: corrupt or truncated ONNX file ({e})") from e
    g = proto.graph
    if len(g.node) == 0:
        raise ModelLoadError(f"{what}: not an ONNX model or the graph has no operators")
    for t in list(g.initializer) + [a.t for n in g.node for a in n.attribute if a.HasField("t")]:
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            raise ModelLoadError(f"{what}: tensor {t.name!r} refers to external data files; "
                                 f"save the model with all weights inside the .onnx file")
    try:
        consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
                  for t in g.initializer}
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"{what}: corrupt initializer tensor ({e})") from e
    for n in g.node:
        if n.op_type == "Constant":
            a = _onnx_attrs(n)
            if "value" in a:
                consts[n.output[0]] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
    real_inputs = [i for i in g.input if i.name not in consts]
    if len(real_inputs) != 1:
        raise ConversionError(f"{what}: expected one graph input, found "
                              f"{[i.name for i in real_inputs]}")
    ops = [n for n in g.node if n.op_type != "Constant"]
    unsupported = sorted({n.op_type for n in ops if n.op_type not in _ONNX_SUPPORTED})
    if unsupported and strict:
        raise ConversionError(f"{what}: unsupported ONNX operator(s) {', '.join(unsupported)}; "
                              f"spikescope maps {', '.join(_ONNX_SUPPORTED)}")
    layers: list[nn.Module] = []
    current = real_inputs[0].name
    dims = [d.dim_value for d in real_inputs[0].type.tensor_type.shape.dim]
    spatial = len(dims) == 4
    i = 0
    while i < len(ops):
        n = ops[i]
        tag = f"{what}: node {n.name or i} ({n.op_type})"
        data_in = [x for x in n.input if x and x not in consts]
        if data_in != [current]:
            raise ConversionError(f"{tag} does not continue a single chain of layers "
                                  f"(inputs {list(n.input)}); only sequential graphs convert")
        a = _onnx_attrs(n)
        op = n.op_type

        def const(k: int, n: Any = n, tag: str = tag) -> torch.Tensor:
            if len(n.input) <= k or n.input[k] not in consts:
                raise ConversionError(f"{tag}: input {k} must be a constant (initializer)")
            return consts[n.input[k]].float()

        if op == "Gemm":
            if a.get("transA", 0):
                raise ConversionError(f"{tag}: transA=1 is not supported")
            w = const(1)
            w = w if a.get("transB", 0) else w.t()
            w = w * float(a.get("alpha", 1.0))
            lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
            b = const(2) * float(a.get("beta", 1.0)) if len(n.input) > 2 and n.input[2] \
                else torch.zeros(w.shape[0])
            _set(lin, w, b.expand(w.shape[0]))
            layers.append(lin)
            spatial = False
        elif op == "MatMul":
            w = const(1).t()
            b = torch.zeros(w.shape[0])
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            if nxt is not None and nxt.op_type == "Add" and n.output[0] in nxt.input:
                other = [x for x in nxt.input if x != n.output[0]]
                if len(other) == 1 and other[0] in consts:
                    b = consts[other[0]].float().reshape(-1).expand(w.shape[0])
                    i += 1
                    n = nxt
            lin = nn.Linear(w.shape[1], w.shape[0])
            _set(lin, w, b)
            layers.append(lin)
            spatial = False
        elif op == "Conv":
            w = const(1)
            if w.dim() != 4:
                raise ConversionError(f"{tag}: only 2-D convolutions are supported")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
                raise ConversionError(f"{tag}: auto_pad={a['auto_pad']!r} is not supported; "
                                      f"export with explicit pads")
            groups = int(a.get("group", 1))
            conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),
                             stride=tuple(a.get("strides", (1, 1))),
                             padding=_symmetric_pads(list(a.get("pads", [])), tag),
                             dilation=tuple(a.get("dilations", (1, 1))), groups=groups)
            b = const(2) if len(n.input) > 2 and n.input[2] else torch.zeros(w.shape[0])
            _set(conv, w, b)
            layers.append(conv)
        elif op == "Relu":
            layers.append(nn.ReLU())
        elif op in ("MaxPool", "AveragePool"):
            if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise ConversionError(f"{tag}: ceil_mode/dilations are not supported")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
                raise ConversionError(f"{tag}: auto_pad is not supported")
            k = tuple(a["kernel_shape"])
            opts = dict(kernel_size=k, stride=tuple(a.get("strides", k)),
                        padding=_symmetric_pads(list(a.get("pads", [])), tag))
            layers.append(nn.MaxPool2d(**opts) if op == "MaxPool" else
                          nn.AvgPool2d(count_include_pad=bool(a.get("count_include_pad", 0)),
                                       **opts))
        elif op == "BatchNormalization":
            scale, bias, mean, var = const(1), const(2), const(3), const(4)
            bn = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(
                scale.shape[0], eps=float(a.get("epsilon", 1e-5)))
            with torch.no_grad():
                bn.weight.copy_(scale)
                bn.bias.copy_(bias)
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
            layers.append(bn)
        elif op == "Flatten":
            if int(a.get("axis", 1)) != 1:
                raise ConversionError(f"{tag}: only axis=1 (keep the batch) is supported")
            layers.append(nn.Flatten())
            spatial = False
        elif op == "Reshape":
            shape = [int(s) for s in const(1).long().tolist()]
            if len(shape) != 2 or shape[0] not in (0, -1, 1) and shape[1] != -1:
                raise ConversionError(f"{tag}: only a flatten to (batch, features) is "
                                      f"supported, got shape {shape}")
            layers.append(nn.Flatten())
            spatial = False
        elif op in ("Dropout", "Identity"):
            pass
        else:
            layers.append(UnsupportedLayer(op, f"(ONNX node {n.name or i})"))
        current = n.output[0]
        i += 1
    model = nn.Sequential(*layers).eval()
    model.input_shape = tuple(int(d) for d in dims[1:]) if dims and all(dims[1:]) else None
    return model


def _set(layer: nn.Module, w: torch.Tensor, b: torch.Tensor) -> None:
    with torch.no_grad():
        if layer.weight.shape != w.shape:
            raise ConversionError(f"weight of shape {tuple(w.shape)} does not fit {layer}")
        layer.weight.copy_(w)
        layer.bias.copy_(b.reshape(-1))


# ------------------------------------------------------------------------ public loader
def _check_model_values(model: nn.Module, name: str) -> None:
    for k, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ModelLoadError(f"{name}: tensor {k!r} contains NaN or infinite values")
    for k, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(m, (nn.Linear, nn.Conv2d)) and isinstance(w, torch.Tensor) \
                and w.numel() == 0:
            raise ModelLoadError(f"{name}: layer {k!r} ({type(m).__name__}) has zero size "
                                 f"(weight shape {tuple(w.shape)})")


def load_model(path_or_bytes: str | os.PathLike | bytes | _io.IOBase, *,
               architecture: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
               strict: bool = True) -> nn.Module:
    """Load a user's ANN safely as a plain torch ``nn.Module`` in eval mode.

    Args:
        path_or_bytes: a file path, the file's bytes (e.g. from an upload widget) or a stream.
        architecture: zoo architecture name for a state dict (``spikescope.zoo.ARCHITECTURES``);
            None detects it from the keys and shapes.
        max_bytes: size limit; larger files are refused before parsing.
        strict: if False, layers/operators spikescope cannot convert are kept as
            :class:`UnsupportedLayer` placeholders (for :func:`inspect_model`) instead of raising.

    Returns:
        the model, with ``model.source_format`` (see :func:`detect_format`) and
        ``model.input_shape`` (per sample, e.g. (1, 8, 8); None when the file does not say,
        as for TorchScript); state dicts also get ``model.architecture``.

    Raises:
        UnsafeModelError: the file would import callables (run code) when unpickled.
        ModelLoadError: empty, truncated, corrupt, too large, unknown format, NaN/inf or
            zero-size weights, or a state dict that fits no architecture.
        ConversionError: an ONNX operator or TorchScript layer that cannot be converted
            (with ``strict=True``).
    """
    data, name = _read_input(path_or_bytes, max_bytes)
    fmt = detect_format(data)
    if fmt in ("torch", "pickle"):
        model = _model_for_state_dict(_state_dict_from_torch(data, fmt, name), architecture, name)
    elif fmt == "safetensors":
        model = _model_for_state_dict(_state_dict_from_safetensors(data, name), architecture,
                                      name)
    elif fmt == "torchscript":
        model = _load_torchscript(data, name)
    else:
        model = _load_onnx(data, name, strict)
    model.source_format = fmt
    _check_model_values(model, name)
    if strict:
        bad = [m for m in model.modules() if isinstance(m, UnsupportedLayer)]
        if bad:
            raise ConversionError(f"{name}: unsupported layer(s) "
                                  f"{', '.join(sorted({m.kind for m in bad}))}; spikescope "
                                  f"converts {', '.join(SUPPORTED_LAYERS)} (load with "
                                  f"strict=False to inspect the model)")
    return model


@dataclass
class LayerInfo:
    """One layer found in a model: its name, type, support, parameters and output shape."""

    name: str
    kind: str
    supported: bool
    n_params: int
    out_shape: tuple[int, ...] | None = None


@dataclass
class ModelReport:
    """What :func:`inspect_model` found: the layers, which are unsupported, whether it converts.

    ``error`` is the reason conversion would fail (None if ``convertible``).
    """

    layers: list[LayerInfo]
    input_shape: tuple[int, ...]
    error: str | None = None
    unsupported: list[str] = field(default_factory=list)

    @property
    def convertible(self) -> bool:
        return self.error is None

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "convertible": self.convertible,
                "error": self.error, "unsupported": list(self.unsupported),
                "n_params": self.n_params,
                "layers": [{"name": x.name, "kind": x.kind, "supported": x.supported,
                            "n_params": x.n_params,
                            "out_shape": list(x.out_shape) if x.out_shape else None}
                           for x in self.layers]}

    def __str__(self) -> str:
        rows = [f"{'layer':<8}{'type':<16}{'params':>9}  {'output':<16}supported"]
        for x in self.layers:
            shape = "x".join(map(str, x.out_shape)) if x.out_shape else "?"
            rows.append(f"{x.name:<8}{x.kind:<16}{x.n_params:>9}  {shape:<16}"
                        f"{'yes' if x.supported else 'NO'}")
        rows.append("convertible" if self.convertible else f"not convertible: {self.error}")
        return "\n".join(rows)


def inspect_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelReport:
    """Report the layers of ``model`` on input ``input_shape`` (no batch dim) before conversion.

    Lists every layer with its type, parameter count and output shape, marks the layers
    spikescope cannot convert and gives the reason conversion would fail, if it would.
    Never raises for a bad model: problems go into ``report.error``.
    """
    input_shape = tuple(int(d) for d in input_shape)
    try:
        layers = leaf_layers(model)
    except ConversionError as e:
        return ModelReport([], input_shape, error=str(e), unsupported=[type(model).__name__])
    infos: list[LayerInfo] = []
    unsupported: list[str] = []
    x: torch.Tensor | None = torch.zeros((1, *input_shape))
    error = None
    for i, m in enumerate(layers):
        kind = m.kind if isinstance(m, UnsupportedLayer) else type(m).__name__
        ok = not isinstance(m, UnsupportedLayer) and kind in SUPPORTED_LAYERS
        if not ok:
            unsupported.append(kind)
        shape = None
        if x is not None:
            try:
                with torch.no_grad():
                    x = m.eval()(x)
                shape = tuple(x.shape[1:])
            except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
                if ok and error is None:
                    error = f"layer {i} ({kind}) does not accept its input: {e}"
                x = None
        n = sum(p.numel() for p in m.parameters())
        infos.append(LayerInfo(f"{i}", kind, ok, n, shape))
    if unsupported:
        error = (f"unsupported layer(s) {', '.join(dict.fromkeys(unsupported))}; spikescope "
                 f"converts {', '.join(SUPPORTED_LAYERS)}")
    elif error is None:
        try:
            parse(model, input_shape)
        except ConversionError as e:
            error = str(e)
    return ModelReport(infos, input_shape, error=error, unsupported=unsupported)


# =============================================================================== NIR
def _neuron_node(net: SpikingNetwork, stage: Stage, last: bool) -> Any:
    import nir

    shape = tuple(stage.out_shape)
    p = net.params
    dt = net.dt_ms * 1e-3
    meta = {"reset": p.reset, "leak": float(p.leak)}
    if last and net.readout == "membrane":
        return nir.I(r=np.ones(shape), metadata=meta)
    thr = np.full(shape, p.threshold)
    zeros = np.zeros(shape)
    if p.leak == 1.0:
        return nir.IF(r=np.ones(shape), v_threshold=thr, v_reset=zeros, metadata=meta)
    # forward Euler of tau dv/dt = -v + R I over one step: leak = 1 - dt/tau, R = tau/dt
    tau = dt / (1.0 - p.leak)
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau / dt), v_leak=zeros,
                   v_threshold=thr, v_reset=zeros, metadata=meta)


def to_nir(net: SpikingNetwork) -> Any:
    """Export a SpikingNetwork as a ``nir.NIRGraph``.

    Chain: Input -> per layer [AvgPool2d / Flatten] -> Affine or Conv2d -> IF (leak = 1) or
    LIF (leak < 1; tau = dt / (1 - leak), R = tau / dt, forward Euler) -> Output. Weights are the
    normalized ones, so the graph runs as the converted SNN. NIR neurons reset to ``v_reset``;
    spikescope's reset by subtraction, refractory period, graded spikes, lambdas and dt are
    kept in node/graph ``metadata`` (read back by :func:`from_nir`). A membrane readout exports
    the output layer as an integrator ``I``. Spiking max-pooling has no NIR equivalent.
    """
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(net.input_shape))}
    order = ["input"]
    for li, s in enumerate(net.stages):
        shape = tuple(s.in_shape)
        for j, op in enumerate(s.pre):
            key = f"{s.name}_pre{j}"
            if isinstance(op, nn.AvgPool2d):
                nodes[key] = nir.AvgPool2d(kernel_size=np.array(_pair(op.kernel_size)),
                                           stride=np.array(_pair(op.stride)),
                                           padding=np.array(_pair(op.padding)))
                if op.padding and op.count_include_pad is False:
                    raise ConversionError(f"{s.name}: AvgPool2d with count_include_pad=False "
                                          f"has no NIR equivalent")
            elif isinstance(op, nn.Flatten):
                if op.start_dim != 1 or op.end_dim != -1:
                    raise ConversionError(f"{s.name}: Flatten({op.start_dim}, {op.end_dim}) "
                                          f"has no NIR equivalent")
                nodes[key] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                         end_dim=-1)
            else:
                raise ConversionError(f"{s.name}: {type(op).__name__} (spiking max-pooling) "
                                      f"has no NIR equivalent; use AvgPool2d")
            shape = tuple(op(torch.zeros((1, *shape))).shape[1:])
            order.append(key)
        w = s.weight.detach().cpu().numpy().astype(np.float32)
        b = s.bias.detach().cpu().numpy().astype(np.float32)
        if s.kind == "linear":
            nodes[s.name] = nir.Affine(weight=w, bias=b)
        else:
            if isinstance(s.padding, str):
                raise ConversionError(f"{s.name}: padding={s.padding!r}; export needs numbers")
            nodes[s.name] = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w,
                                       stride=tuple(s.stride), padding=tuple(s.padding),
                                       dilation=tuple(s.dilation), groups=int(s.groups), bias=b)
        order.append(s.name)
        key = f"{s.name}_neurons"
        nodes[key] = _neuron_node(net, s, li == len(net.stages) - 1)
        order.append(key)
    nodes["output"] = nir.Output(output_type=np.array(net.stages[-1].out_shape))
    order.append("output")
    meta = {"producer": "spikescope", "dt_ms": float(net.dt_ms), "readout": net.readout,
            "code": net.code, "reset": net.params.reset, "clamp_delay": int(net.clamp_delay),
            "lambdas": np.array(net.lambdas, np.float64), "bits": int(net.bits),
            "percentile": float("nan") if net.percentile is None else float(net.percentile),
            "refractory": int(net.params.refractory), "graded": int(net.params.graded)}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata=meta)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list, np.ndarray)):
        return tuple(int(x) for x in v)
    return (int(v), int(v))


def _meta_str(v: Any, default: str) -> str:
    if v is None:
        return default
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(v)


def _uniform(a: Any, what: str) -> float:
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 0 or not np.all(arr == arr.flat[0]):
        raise ConversionError(f"{what} differs between neurons; spikescope supports one value "
                              f"per network")
    return float(arr.flat[0])


def from_nir(graph: Any, *, dt_ms: float | None = None) -> SpikingNetwork:
    """Build a SpikingNetwork from a NIR graph of the supported subset.

    Supported: a chain Input -> ([AvgPool2d | SumPool2d | Flatten]* -> Affine | Linear | Conv2d
    -> IF | LIF) * -> Output, optionally ending in an integrator ``I`` (membrane readout);
    the same threshold and leak in every spiking layer and v_reset = 0. The input gain R of the
    neurons (R for IF, R dt/tau for LIF) is folded into the weights; SumPool2d becomes
    AvgPool2d with the kernel area folded into the next weights. Raises ConversionError naming
    the first node outside this subset.
    """
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise ConversionError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    meta = dict(graph.metadata or {})
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ConversionError(f"NIR graph must have exactly one Input node, has {len(inputs)}")
    dt_ms = float(dt_ms if dt_ms is not None else meta.get("dt_ms", 1.0))
    dt = dt_ms * 1e-3
    input_shape = tuple(int(d) for d in np.asarray(graph.nodes[inputs[0]].input_type["input"]))
    stages: list[Stage] = []
    pending: list[nn.Module] = []
    pending_gain = 1.0
    synapse: tuple[str, Any] | None = None
    thresholds, leaks, resets = [], [], []
    readout = "spikes"
    key, seen = inputs[0], set()
    while True:
        nxt = succ.get(key, [])
        if len(nxt) != 1:
            if not nxt and isinstance(graph.nodes[key], nir.Output):
                break
            raise ConversionError(f"NIR node {key!r} has {len(nxt)} successors; only chains "
                                  f"are supported")
        key = nxt[0]
        if key in seen:
            raise ConversionError(f"NIR graph has a cycle at {key!r} (recurrence is not "
                                  f"supported)")
        seen.add(key)
        node = graph.nodes[key]
        kind = type(node).__name__
        if isinstance(node, nir.Output):
            break
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            k = _pair(node.kernel_size)
            pending.append(nn.AvgPool2d(k, _pair(node.stride), _pair(node.padding)))
            if isinstance(node, nir.SumPool2d):
                pending_gain *= k[0] * k[1]
        elif isinstance(node, nir.Flatten):
            pending.append(nn.Flatten())
        elif isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            if synapse is not None:
                raise ConversionError(f"NIR node {key!r}: two synaptic layers without neurons "
                                      f"between them are not supported")
            synapse = (key, node)
        elif isinstance(node, (nir.IF, nir.LIF, nir.I)):
            if synapse is None:
                raise ConversionError(f"NIR node {key!r} ({kind}) has no synaptic layer before it")
            sname, syn = synapse
            w = torch.as_tensor(np.asarray(syn.weight, np.float32))
            b = torch.as_tensor(np.asarray(getattr(syn, "bias", np.zeros(w.shape[0])),
                                           np.float32)).reshape(-1)
            if isinstance(node, nir.LIF):
                tau = _uniform(node.tau, f"{key}: tau")
                gain = _uniform(node.r, f"{key}: r") * dt / tau
                leak = 1.0 - dt / tau
                exact = (node.metadata or {}).get("leak")  # spikescope's own, bit-exact
                if exact is not None and abs(float(np.asarray(exact)) - leak) < 1e-9:
                    leak = float(np.asarray(exact))
                    gain = round(gain, 9)
                leaks.append(leak)
                if _uniform(node.v_leak, f"{key}: v_leak") != 0:
                    raise ConversionError(f"NIR node {key!r}: v_leak must be 0")
            else:
                gain = _uniform(node.r, f"{key}: r")
                if isinstance(node, nir.IF):
                    leaks.append(1.0)
            if isinstance(node, nir.I):
                if nxt_is_output(graph, succ, key):
                    readout = "membrane"
                else:
                    raise ConversionError(f"NIR node {key!r}: an integrator I is only "
                                          f"supported as the output layer")
            else:
                thresholds.append(_uniform(node.v_threshold, f"{key}: v_threshold"))
                if _uniform(node.v_reset, f"{key}: v_reset") != 0:
                    raise ConversionError(f"NIR node {key!r}: v_reset must be 0")
                resets.append(_meta_str((node.metadata or {}).get("reset"), "zero"))
            w = w * (gain * pending_gain)
            b = b * gain
            n = len(stages) + 1
            if isinstance(syn, nir.Conv2d):
                pad = syn.padding if isinstance(syn.padding, str) else _pair(syn.padding)
                stages.append(Stage(f"conv{n}", "conv", w, b, pre=pending, stride=_pair(
                    syn.stride), padding=pad, dilation=_pair(syn.dilation),
                    groups=int(syn.groups)))
            else:
                stages.append(Stage(f"fc{n}", "linear", w, b, pre=pending))
            pending, pending_gain, synapse = [], 1.0, None
        else:
            raise ConversionError(f"NIR node {key!r} of type {kind} is not supported; "
                                  f"spikescope imports Affine, Linear, Conv2d, AvgPool2d, "
                                  f"SumPool2d, Flatten, IF, LIF and I")
    if not stages:
        raise ConversionError("NIR graph has no synaptic layer followed by neurons")
    if synapse is not None or pending:
        raise ConversionError("NIR graph ends without neurons after its last layer")
    threshold = _uniform(thresholds, "v_threshold") if thresholds else 1.0
    leak = _uniform(leaks, "leak (tau)") if leaks else 1.0
    reset = _uniform_str(resets, meta)
    for i, s in enumerate(stages):
        s.relu = i < len(stages) - 1
    try:
        infer_shapes(stages, input_shape)
    except ConversionError as e:
        raise ConversionError(f"NIR graph shapes do not fit: {e}") from e
    params = NeuronParams(threshold=threshold, leak=leak, reset=reset,
                          refractory=int(np.asarray(meta.get("refractory", 0))),
                          graded=bool(np.asarray(meta.get("graded", 0))))
    lambdas = [float(v) for v in np.asarray(meta.get("lambdas", [1.0] * len(stages))).ravel()]
    if len(lambdas) != len(stages):
        lambdas = [1.0] * len(stages)
    pct = meta.get("percentile")
    pct = None if pct is None or math.isnan(float(np.asarray(pct))) else float(np.asarray(pct))
    code = _meta_str(meta.get("code"), "rate")
    cls = CODES.get(code, SpikingNetwork)
    return cls(stages, lambdas, params, input_shape=input_shape, percentile=pct,
               bits=int(np.asarray(meta.get("bits", 8))),
               clamp_delay=int(np.asarray(meta.get("clamp_delay", 0))), readout=readout,
               dt_ms=dt_ms)


def nxt_is_output(graph: Any, succ: dict[str, list[str]], key: str) -> bool:
    import nir

    nxt = succ.get(key, [])
    return len(nxt) == 1 and isinstance(graph.nodes[nxt[0]], nir.Output)


def _uniform_str(resets: list[str], meta: dict) -> str:
    if not resets:
        return _meta_str(meta.get("reset"), "subtract")
    if len(set(resets)) != 1:
        raise ConversionError(f"layers use different reset mechanisms {sorted(set(resets))}")
    if resets[0] not in ("subtract", "zero"):
        raise ConversionError(f"unknown reset {resets[0]!r} in NIR metadata")
    return resets[0]


def save_nir(net: SpikingNetwork, path: str | os.PathLike) -> None:
    """Write ``net`` as a NIR file (HDF5) with :func:`nir.write`."""
    import nir

    nir.write(str(path), to_nir(net))


def load_nir(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SpikingNetwork:
    """Read a NIR file (HDF5) with :func:`nir.read` and build a SpikingNetwork (:func:`from_nir`).

    HDF5 holds arrays and strings only, no code. Raises ModelLoadError for a corrupt file.
    """
    import nir

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise ModelLoadError(f"{path}: exceeds the size limit of {max_bytes} bytes")
    try:
        graph = nir.read(str(path))
    except Exception as e:  # noqa: BLE001 - h5py OSError, KeyError, AssertionError, ...
        raise ModelLoadError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from e
    return from_nir(graph)


# =============================================================================== runs
RUN_FORMAT = "spikescope-run"
RUN_VERSION = 1


def _json_ready(obj: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(obj, default=_json_default, allow_nan=True))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must be JSON-serializable (numbers, strings, lists, "
                         f"dicts): {e}") from e


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.generic,)):
        return o.item()
    if isinstance(o, (np.ndarray, torch.Tensor)):
        return np.asarray(o.cpu() if isinstance(o, torch.Tensor) else o).tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")


def save_run(path: str | os.PathLike, net_params: dict, recording: Recording, *,
             plots: dict[str, Any] | None = None) -> Path:
    """Save a run: parameters, the Recording (summary and arrays) and extra plot data.

    One ``.npz`` file (no pickle): ``meta.json`` (format, parameters, ``recording.summary()``,
    layer names, dt, readout) plus the Recording's arrays and ``plots`` (name -> array, e.g. an
    accuracy curve or a confusion matrix), so every figure of the run can be drawn again.
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a spikescope Recording, got "
                        f"{type(recording).__name__}")
    if not isinstance(net_params, dict):
        raise TypeError(f"net_params must be a dict, got {type(net_params).__name__}")
    plots = dict(plots or {})
    meta = {"format": RUN_FORMAT, "version": RUN_VERSION,
            "params": _json_ready(net_params, "net_params"),
            "summary": _json_ready(recording.summary(), "summary"),
            "layer_names": list(recording.layer_names), "dt_ms": recording.dt_ms,
            "readout": recording.readout, "plots": sorted(plots),
            "has_trains": recording.spike_trains is not None,
            "has_membrane": recording.membrane is not None}
    arrays: dict[str, np.ndarray] = {
        "meta.json": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "output_counts": _np(recording.output_counts),
        "output_potential": _np(recording.output_potential),
        "layer_spikes": _np(recording.layer_spikes), "layer_ops": _np(recording.layer_ops)}
    for l in range(len(recording.layer_names)):
        arrays[f"spike_counts/{l}"] = _np(recording.spike_counts[l])
        if recording.spike_trains is not None:
            arrays[f"spike_trains/{l}"] = _np(recording.spike_trains[l])
        if recording.membrane is not None:
            arrays[f"membrane/{l}"] = _np(recording.membrane[l])
            if recording.membrane_neurons is not None:
                arrays[f"membrane_neurons/{l}"] = _np(recording.membrane_neurons[l])
    for k, v in plots.items():
        a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
        if a.dtype == object:
            raise ValueError(f"plot data {k!r} must be a numeric array, got objects")
        arrays[f"plot/{k}"] = a
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@dataclass
class Run:
    """A run read back by :func:`load_run`: parameters, summary, Recording and plot data."""

    params: dict
    summary: dict
    recording: Recording
    plots: dict[str, np.ndarray]


def load_run(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Run:
    """Read a run saved by :func:`save_run` (``allow_pickle=False``: arrays only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run file {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise RunFileError(f"{path}: exceeds the size limit of {max_bytes} bytes")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zip/npy errors of many kinds
        raise RunFileError(f"{path}: not a readable run file ({type(e).__name__}: {e})") from e
    try:
        meta = json.loads(arrays["meta.json"].tobytes().decode())
        if meta.get("format") != RUN_FORMAT:
            raise RunFileError(f"{path}: not a spikescope run (format {meta.get('format')!r})")
        if int(meta.get("version", 0)) > RUN_VERSION:
            raise RunFileError(f"{path}: run format version {meta['version']} is newer than "
                               f"this spikescope ({RUN_VERSION})")
        names = list(meta["layer_names"])
        L = len(names)
        t = torch.from_numpy

        def per_layer(prefix: str) -> list[torch.Tensor]:
            return [t(arrays[f"{prefix}/{l}"]) for l in range(L)]

        rec = Recording(
            layer_names=names, spike_counts=per_layer("spike_counts"),
            output_counts=t(arrays["output_counts"]),
            output_potential=t(arrays["output_potential"]),
            layer_spikes=t(arrays["layer_spikes"]), layer_ops=t(arrays["layer_ops"]),
            spike_trains=per_layer("spike_trains") if meta["has_trains"] else None,
            membrane=per_layer("membrane") if meta["has_membrane"] else None,
            membrane_neurons=per_layer("membrane_neurons")
            if meta["has_membrane"] and f"membrane_neurons/{0}" in arrays else None,
            dt_ms=float(meta["dt_ms"]), readout=meta["readout"])
        plots = {k: arrays[f"plot/{k}"] for k in meta["plots"]}
    except RunFileError:
        raise
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise RunFileError(f"{path}: incomplete or corrupt run file ({type(e).__name__}: "
                           f"{e})") from e
    return Run(params=meta["params"], summary=meta["summary"], recording=rec, plots=plots)


__all__ = ["load_model", "inspect_model", "detect_format", "scan_pickle", "ModelReport",
           "LayerInfo", "UnsupportedLayer", "ModelLoadError", "UnsafeModelError",
           "DEFAULT_MAX_BYTES", "SAFE_PICKLE_GLOBALS", "to_nir", "from_nir", "save_nir",
           "load_nir", "save_run", "load_run", "Run", "RunFileError"]
