"""ONNX graphs (how Keras/TensorFlow users bring models) mapped op by op onto torch layers.

Read with the ``onnx`` package (https://onnx.ai/onnx/operators/): Gemm, MatMul(+Add), Conv,
Relu, MaxPool, AveragePool, BatchNormalization, Flatten, Reshape (to a constant shape, or to
(batch, -1) computed by Shape/Gather/Unsqueeze/Concat as torch.onnx writes a dynamic batch axis);
Dropout and Identity are dropped. The file holds no code; it is parsed as data.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..convert.parse import ConversionError
from .errors import ModelLoadError, UnsupportedLayer

_ONNX_SUPPORTED = ("Gemm", "MatMul", "Add", "Conv", "Relu", "MaxPool", "AveragePool",
                   "BatchNormalization", "Flatten", "Reshape", "Dropout", "Identity")


def _onnx_attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _symmetric_pads(pads: list[int], what: str) -> tuple[int, int]:
    if not pads:
        return (0, 0)
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise ConversionError(f"{what}: asymmetric padding {list(pads)} is not supported")
    return (int(pads[0]), int(pads[1]))


def load_onnx(data: bytes, name: str, strict: bool) -> nn.Module:
    """The ONNX model ``data`` as ``nn.Sequential`` (UnsupportedLayer for unknown ops if lax)."""
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
    shapes = _batch_shape_exprs(ops, consts)  # x.view(x.size(0), -1) with a dynamic batch
    ops = [n for n in ops if n.op_type not in _SHAPE_OPS or n.output[0] not in shapes]
    unsupported = sorted({str(n.op_type) for n in ops if n.op_type not in _ONNX_SUPPORTED})
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
        data_in = [x for x in n.input if x and x not in consts and x not in shapes]
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
            if not a.get("kernel_shape"):
                raise ConversionError(f"{tag}: {op} has no kernel_shape attribute (required by "
                                      f"ONNX)")
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
            expr = shapes.get(n.input[1]) if len(n.input) > 1 else None
            shape = ([0 if s == "batch" else int(s) for s in expr] if isinstance(expr, list)
                     else [int(s) for s in const(1).long().tolist()])
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
    model.input_shape = (tuple(int(d) for d in dims[1:])
                         if dims and all(d > 0 for d in dims[1:]) else None)
    return model


_SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Concat")


def _batch_shape_exprs(ops: list, consts: dict[str, torch.Tensor]) -> dict[str, list]:
    """Shape tensors computed from the data: torch.onnx.export of ``x.view(x.size(0), -1)``
    with a dynamic batch axis writes Shape -> Gather(0) -> Unsqueeze(0) -> Concat(.., [-1])
    -> Reshape. Returns output name -> list of "batch" / ints for the nodes of that pattern."""
    out: dict[str, Any] = {}
    for n in ops:
        ins = list(n.input)
        if n.op_type == "Shape" and len(ins) == 1:
            out[n.output[0]] = "shape"
        elif n.op_type == "Gather" and len(ins) == 2 and out.get(ins[0]) == "shape" and \
                ins[1] in consts and consts[ins[1]].numel() == 1 and \
                int(consts[ins[1]].reshape(-1)[0]) == 0:
            out[n.output[0]] = "batch"
        elif n.op_type == "Unsqueeze" and ins and out.get(ins[0]) == "batch":
            out[n.output[0]] = ["batch"]
        elif n.op_type == "Concat" and ins and all(
                isinstance(out.get(x), list) or x in consts for x in ins):
            parts: list = []
            for x in ins:
                parts += out[x] if isinstance(out.get(x), list) else \
                    [int(v) for v in consts[x].reshape(-1).tolist()]
            out[n.output[0]] = parts
    return out


def _set(layer: nn.Module, w: torch.Tensor, b: torch.Tensor) -> None:
    with torch.no_grad():
        if layer.weight.shape != w.shape:
            raise ConversionError(f"weight of shape {tuple(w.shape)} does not fit {layer}")
        layer.weight.copy_(w)
        layer.bias.copy_(b.reshape(-1))
