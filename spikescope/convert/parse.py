"""Parse a torch ANN into a graph of stages (:mod:`spikescope.sim.graph`), BatchNorm folded.

torch.fx traces the model (through custom blocks and nested ``nn.Sequential``) and every node
is read as one of four kinds of value:

- *spikes*: the output of a ReLU (a spiking stage), or the network input, with the
  pooling / flatten / upsampling ops applied to it since;
- *affine*: a sum of synaptic terms plus a bias, not yet rectified (a Linear or Conv output,
  BatchNorm folded in, residual additions merged in as further terms);
- the batch size and the shape (``x.size(0)``, ``x.shape``), for the usual flatten idioms.

A ReLU on an affine value makes a stage: its terms become the stage's own term and its
``branches``. A concatenation of spike values along channels is a stage reading several
sources. Two affine layers with no ReLU between are folded into one when both are Linear
(exact); otherwise refused, because a hidden layer without a ReLU has no spiking
equivalent. Stages of a chain are named conv1, fc1, deconv1 (ConvTranspose2d), ... in
order; stages of a graph by the module path of their first synaptic layer.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import ConversionError
from ..sim import graph
from ..sim.stages import Stage
from . import layers as L
from .trace import examples_of, trace

SUPPORTED_LAYERS = L.SUPPORTED_LAYERS

__all__ = ["SUPPORTED_LAYERS", "ConversionError", "parse"]


@dataclass
class _Spikes:
    sources: tuple[int, ...]
    ops: list[nn.Module]
    x: torch.Tensor  # an example value, for shapes


@dataclass
class _Affine:
    terms: list[Stage]
    bias: torch.Tensor
    post: list[nn.Module]
    x: torch.Tensor  # the current value (after ``post``)
    name: str
    z: torch.Tensor | None = None  # the sum (before ``post``); x when None

    def __post_init__(self) -> None:
        if self.z is None:
            self.z = self.x


@dataclass
class _Cat:
    """A concatenation (along channels) of spike values with different ops since their
    ReLU; the synaptic layer that reads it is split into one term per part."""

    parts: list[_Spikes]
    x: torch.Tensor


class _Batch:
    """The batch size (``x.size(0)``, ``x.shape[0]``)."""


@dataclass
class _Shape:
    x: torch.Tensor


_RELU = {F.relu, torch.relu, torch.relu_, getattr(F, "relu_", None)} - {None}
_ADD = {operator.add, operator.iadd, torch.add}
_DROPOUT = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
            F.feature_alpha_dropout}
_PASS_METHODS = {"contiguous", "clone", "detach"}
_POOL_ARGS = {"max": ("kernel_size", "stride", "padding", "dilation", "ceil_mode",
                      "return_indices"),
              "avg": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                      "divisor_override")}


def _where(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return f"'{list(stack)[-1]}'" if stack else "forward()"


class _Parser:
    def __init__(self, model: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.model, self.input_shape = model, input_shape
        self.modules: dict[str, nn.Module] = {}
        self.stages: list[Stage] = []
        self.node = ""  # the fx node being read (names identity-only stages)

    # ----------------------------------------------------------------- values
    def add_op(self, v, op: nn.Module, out: torch.Tensor):
        if isinstance(v, _Cat):
            if isinstance(op, nn.Flatten) and v.x.dim() > 2:
                return _Cat([self.add_op(p, op, p.x.flatten(1)) for p in v.parts], out)
            if isinstance(op, nn.Flatten):
                return v
            return _Cat([self.add_op(p, op, op(p.x)) for p in v.parts], out)
        if isinstance(v, _Spikes):
            return _Spikes(v.sources, [*v.ops, op], out)
        if isinstance(v, _Affine):
            return _Affine(v.terms, v.bias, [*v.post, op], out, v.name, v.z)
        raise ConversionError(f"{type(op).__name__} applied to a non-tensor value")

    def relu(self, v, name: str):
        if isinstance(v, (_Spikes, _Cat)):
            return v  # already rectified
        if not isinstance(v, _Affine):
            raise ConversionError(f"ReLU at {name} applied to a non-tensor value")
        if any(isinstance(op, (nn.AvgPool1d, nn.AvgPool2d)) for op in v.post):
            raise ConversionError(f"ReLU at {name} after average pooling of a non-rectified "
                                  f"value is not supported: put the ReLU before the pooling")
        return _Spikes((self.make_stage(v, relu=True),), list(v.post), v.x)

    def make_stage(self, v: _Affine, *, relu: bool) -> int:
        main, *branches = v.terms
        stage = main.copy(name=v.name, bias=v.bias, relu=relu, branches=branches)
        stage.out_shape = tuple(v.z.shape[1:])
        self.stages.append(stage)
        return len(self.stages) - 1

    def synaptic(self, m: nn.Module, v, path: str, out: torch.Tensor):
        if isinstance(v, _Cat):
            return self.split_synaptic(m, v, path, out)
        if isinstance(v, _Spikes):
            term, bias = L.synaptic_term(m, v.sources, list(v.ops), path)
            return _Affine([term], bias, [], out, path)
        if isinstance(v, _Affine) and _rectified_sum(v):
            # W (a + b) = W a + W b for rectified a, b: one term per summand
            terms = []
            for t in v.terms:
                term, bias = L.synaptic_term(m, t.sources, [*t.pre, *v.post], path)
                terms.append(term)
            return _Affine(terms, bias, [], out, path)
        if isinstance(v, _Affine) and isinstance(m, nn.Linear) and all(
                t.kind == "linear" for t in v.terms) and all(
                isinstance(op, nn.Flatten) for op in v.post):
            w2 = m.weight.detach()  # two Linear layers with no ReLU between: W2 W1, W2 b1 + b2
            terms = [t.copy(weight=w2 @ t.weight) for t in v.terms]
            b2 = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)
            return _Affine(terms, w2 @ v.bias + b2, [], out, v.name)
        if isinstance(v, _Affine):
            raise ConversionError(
                f"layer '{path}' ({type(m).__name__}) takes the output of '{v.name}' with no "
                f"ReLU between them: a hidden layer without a ReLU has no spiking equivalent "
                f"(spiking neurons rectify). Consecutive Linear layers are folded into one; "
                f"otherwise add a ReLU after '{v.name}'")
        raise ConversionError(f"layer '{path}' ({type(m).__name__}) applied to a non-tensor")

    def split_synaptic(self, m: nn.Module, v: _Cat, path: str, out: torch.Tensor):
        """W cat(a, b) = W_a a + W_b b: one term per part, W split along its inputs."""
        if getattr(m, "groups", 1) != 1:
            raise ConversionError(f"layer '{path}' (grouped {type(m).__name__}) reads a "
                                  f"concatenation of differently pooled branches")
        terms, offset, bias = [], 0, None
        for p in v.parts:
            n = p.x.shape[1]  # channels, or features after a flatten
            term, b = L.synaptic_term(m, p.sources, list(p.ops), path)
            bias = b if bias is None else bias
            axis = 0 if term.kind == "convT" else 1
            term.weight = term.weight.narrow(axis, offset, n).clone()
            terms.append(term)
            offset += n
        return _Affine(terms, bias, [], out, path)

    def add(self, a, b, name: str, out: torch.Tensor):
        if not all(isinstance(v, (_Spikes, _Affine)) for v in (a, b)):
            raise L.unsupported(f"addition of a constant at {name}")
        if tuple(a.x.shape) != tuple(b.x.shape):
            raise ConversionError(f"addition at {name} of shapes {tuple(a.x.shape[1:])} and "
                                  f"{tuple(b.x.shape[1:])}: only equal shapes (no broadcast)")
        parts = []
        for v in (a, b):
            if isinstance(v, _Affine):
                if v.post:
                    raise ConversionError(f"addition at {name}: an input was pooled or "
                                          f"reshaped after '{v.name}' without a ReLU")
                parts.append(v)
            else:
                term = L.identity_term(v.x.shape[1], v.sources, list(v.ops), self.node)
                parts.append(_Affine([term], torch.zeros(v.x.shape[1]), [], v.x, self.node))
        first = next((p for p in parts if p.terms[0].kind != "identity"), parts[0])
        return _Affine(parts[0].terms + parts[1].terms, parts[0].bias + parts[1].bias, [],
                       out, first.name)

    def cat(self, values, dim: int, name: str, out: torch.Tensor):
        if dim not in (1, 1 - out.dim()):
            raise ConversionError(f"concatenation at {name} along dim {dim}: only along the "
                                  f"channel / feature axis (dim 1)")
        if not all(isinstance(v, (_Spikes, _Cat)) for v in values):
            raise ConversionError(f"concatenation at {name} of a value with no ReLU before "
                                  f"it: put a ReLU on every branch that is concatenated")
        parts = [p for v in values for p in (v.parts if isinstance(v, _Cat) else [v])]
        if all(repr(p.ops) == repr(parts[0].ops) for p in parts) and not any(
                isinstance(op, nn.Flatten) for op in parts[0].ops):
            return _Spikes(tuple(i for p in parts for i in p.sources), list(parts[0].ops), out)
        return _Cat(parts, out)

    # ----------------------------------------------------------------- nodes
    def node_value(self, node: fx.Node, args, kwargs, out):
        op, target, where = node.op, node.target, _where(node)
        path = where.strip("'") if where.startswith("'") else ""
        self.node = f"{path}.{node.name}" if path else node.name
        if op == "call_module":
            return self.module_value(self.modules[target], target, args, out)
        if op == "call_method":
            return self.method_value(target, args, kwargs, out, where)
        if op == "call_function":
            return self.function_value(target, args, kwargs, out, where)
        raise L.unsupported(f"{op} node '{node.name}' ({target}) in {where}")

    def module_value(self, m: nn.Module, path: str, args, out):
        v = args[0]
        if isinstance(m, L.SYNAPTIC):
            return self.synaptic(m, v, path, out)
        if isinstance(m, L.BATCHNORM):
            if not isinstance(v, _Affine) or v.post:
                raise ConversionError(f"BatchNorm '{path}' must directly follow a Linear or "
                                      f"Conv layer to be folded into it")
            return _Affine(v.terms, L.fold_bn(v.terms, v.bias, m, path), [], out, v.name)
        if isinstance(m, nn.ReLU):
            return self.relu(v, f"'{path}'")
        if isinstance(m, L.DROPPED):
            return v
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self.add_op(v, L.adaptive_avg(m.output_size, v.x, path), out)
        if isinstance(m, L.POOLS):
            return self.add_op(v, L.check_pool(m, path), out)
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise L.unsupported(f"layer '{path}' (Flatten from dim {m.start_dim} to "
                                    f"{m.end_dim}; only from dim 1)")
            return self.add_op(v, nn.Flatten(), out)
        if isinstance(m, nn.Upsample):
            return self.add_op(v, L.upsample_op(m.scale_factor, m.mode, m.size, v.x, path),
                               out)
        raise L.unsupported(f"layer '{path}' ({type(m).__name__})")

    def method_value(self, name: str, args, kwargs, out, where: str):
        v = args[0]
        if name in ("relu", "relu_"):
            return self.relu(v, where)
        if name in _PASS_METHODS:
            return v
        if name == "size":
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            return _Shape(v.x) if dim is None else _Batch() if dim == 0 else out
        if name in ("view", "reshape"):
            return self.reshape(v, args[1:], out, where)
        if name == "flatten":
            start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
            return self.flatten(v, start, out, where)
        if name == "mean":
            return self.mean(v, args[1:], kwargs, out, where)
        if name in ("add", "add_"):
            return self.add(v, args[1], where, out)
        raise L.unsupported(f"method .{name}() in {where}")

    def function_value(self, fn, args, kwargs, out, where: str):
        v = args[0] if args else None
        if fn in _RELU:
            return self.relu(v, where)
        if fn in _DROPOUT:
            return v
        if fn in L.FUNCTIONAL_POOLS:
            kind = L.FUNCTIONAL_POOLS[fn]
            kw = dict(zip(_POOL_ARGS[kind], args[1:]), **kwargs)
            if kw.get("dilation", 1) not in (1, (1, 1)) or kw.get("return_indices") \
                    or kw.get("divisor_override"):
                raise L.unsupported(f"{fn.__name__} with dilation, return_indices or "
                                    f"divisor_override in {where}")
            pool = L.pool_op(kind, v.x, kernel=kw["kernel_size"], stride=kw.get("stride"),
                             padding=kw.get("padding", 0), ceil_mode=kw.get("ceil_mode", False),
                             count_include_pad=kw.get("count_include_pad", True))
            return self.add_op(v, pool, out)
        if fn in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            size = args[1] if len(args) > 1 else kwargs["output_size"]
            return self.add_op(v, L.adaptive_avg(size, v.x, where), out)
        if fn is F.interpolate:
            kw = dict(zip(("size", "scale_factor", "mode"), args[1:]), **kwargs)
            up = L.upsample_op(kw.get("scale_factor"), kw.get("mode", "nearest"),
                               kw.get("size"), v.x, where)
            return self.add_op(v, up, out)
        if fn is torch.flatten:
            start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
            return self.flatten(v, start, out, where)
        if fn in (torch.cat, torch.concat):
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            return self.cat(list(v), dim, where, out)
        if fn in _ADD and len(args) == 2 and not kwargs:
            return self.add(args[0], args[1], where, out)
        if fn is getattr and args[1] == "shape":
            return _Shape(v.x)
        if fn is operator.getitem and isinstance(v, _Shape):
            return _Batch() if args[1] == 0 else out
        if fn is torch.mean:
            return self.mean(v, args[1:], kwargs, out, where)
        name = getattr(fn, "__name__", repr(fn))
        raise L.unsupported(f"operation {name} in {where}")

    def flatten(self, v, start, out, where: str):
        if start != 1:
            raise L.unsupported(f"flatten from dim {start} in {where} (only from dim 1, "
                                f"keeping the batch axis)")
        return self.add_op(v, nn.Flatten(), out)

    def reshape(self, v, shape, out, where: str):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if tuple(out.shape) == tuple(v.x.shape):
            return v
        if out.dim() == 2 and len(shape) == 2 and (isinstance(shape[0], _Batch)
                                                   or shape[0] == -1):
            return self.add_op(v, nn.Flatten(), out)
        raise L.unsupported(f"reshape to {tuple(out.shape[1:])} in {where} (only the flatten "
                            f"idioms x.view(x.size(0), -1), x.reshape(x.shape[0], -1))")

    def mean(self, v, args, kwargs, out, where: str):
        dims = args[0] if args else kwargs.get("dim")
        keep = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        dims = {d % v.x.dim() for d in ((dims,) if isinstance(dims, int) else dims or ())}
        if dims != set(range(2, v.x.dim())):
            raise L.unsupported(f"mean over dims {sorted(dims)} in {where} (only over all "
                                f"spatial dims: global average pooling)")
        pool = L.adaptive_avg(1, v.x, where)
        pooled = self.add_op(v, pool, pool(v.x))
        return pooled if keep else self.add_op(pooled, nn.Flatten(), out)

    # ----------------------------------------------------------------- the model
    def run(self) -> list[Stage]:
        gm = trace(self.model)
        self.modules = dict(gm.named_modules())
        examples = examples_of(gm, self.input_shape)
        env: dict[fx.Node, object] = {}
        result = None
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                if env:
                    raise ConversionError("the model takes more than one input")
                env[node] = _Spikes((graph.INPUT,), [], examples[node])
                continue
            if node.op == "output":
                result = node.args[0]
                break
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            env[node] = self.node_value(node, args, kwargs, examples[node])
        return self.finish(env[result] if isinstance(result, fx.Node) else None)

    def finish(self, v) -> list[Stage]:
        if isinstance(v, _Affine):
            if any(not isinstance(op, nn.Flatten) for op in v.post):
                raise ConversionError(f"the model ends with {[type(p).__name__ for p in v.post]}"
                                      f"; the last layer must be Linear or Conv")
            self.make_stage(v, relu=False)
        elif not isinstance(v, _Spikes) or v.sources == (graph.INPUT,):
            raise ConversionError("the model has no Linear or Conv layer to convert (or its "
                                  "output is not one tensor)")
        elif v.sources != (len(self.stages) - 1,) or any(
                not isinstance(op, nn.Flatten) for op in v.ops):
            raise ConversionError("the model must end with a Linear or Conv layer (with or "
                                  "without a ReLU); it ends with a concatenation, a pooling "
                                  "or an earlier layer")
        return self.stages


def _rectified_sum(v: _Affine) -> bool:
    """Whether ``v`` is a plain sum of rectified values (identity terms of weight 1, no
    bias), pooled or reshaped only by linear ops since: itself rectified."""
    return all(t.kind == "identity" and bool((t.weight == 1).all()) for t in v.terms) and \
        not bool(v.bias.any()) and all(isinstance(op, (nn.AvgPool1d, nn.AvgPool2d, nn.Flatten,
                                                       nn.Upsample)) for op in v.post)


def parse(model: nn.Module, input_shape: tuple[int, ...]) -> list[Stage]:
    """Turn ``model`` (in eval mode, on the CPU) into a graph of stages, BatchNorm folded;
    shapes from a dummy forward. ConversionError names any op it cannot convert."""
    stages = _Parser(model, tuple(input_shape)).run()
    if graph.is_chain(graph.link(stages)):
        counts: dict[str, int] = {}
        for s in stages:
            prefix = {"linear": "fc", "convT": "deconv"}.get(s.kind, "conv")
            counts[prefix] = counts.get(prefix, 0) + 1
            s.name = f"{prefix}{counts[prefix]}"
    for s in stages:
        for t in s.terms():
            if t.weight.numel() == 0:
                raise ConversionError(f"layer {s.name} has zero size (weight shape "
                                      f"{tuple(t.weight.shape)}); every layer needs at least "
                                      f"one input and one output")
            if not (torch.isfinite(t.weight).all() and torch.isfinite(s.bias).all()):
                raise ConversionError(f"layer {s.name} has NaN or infinite weights or biases "
                                      f"(after BatchNorm folding)")
    infer_shapes(stages, input_shape)
    return stages


def infer_shapes(stages: list[Stage], input_shape: tuple[int, ...]) -> None:
    """Set every stage's (and term's) ``in_shape``/``out_shape`` by a forward pass of one
    zero input."""
    outputs = {graph.INPUT: torch.zeros((1, *input_shape), dtype=stages[0].weight.dtype)}
    for l, s in enumerate(graph.link(stages)):
        try:
            for t in s.terms():
                t.in_shape = tuple(graph.gather(outputs, t.sources).shape[1:])
            outputs[l] = graph.stage_forward(s, outputs)
        except RuntimeError as e:
            raise ConversionError(f"layer {s.name} does not accept input of shape "
                                  f"{s.in_shape} (from input shape {tuple(input_shape)}): "
                                  f"{e}") from e
        for t in s.terms():
            t.out_shape = tuple(outputs[l].shape[1:])
