"""Report a model's layers before conversion: types, parameters, shapes, what cannot convert."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..convert.layers import BATCHNORM, DROPPED, POOLS, SYNAPTIC
from ..convert.parse import SUPPORTED_LAYERS, ConversionError, parse
from ..convert.trace import examples_of, trace
from .errors import UnsupportedLayer


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


SUPPORTED_TYPES = {t.__name__ for t in (*SYNAPTIC, *BATCHNORM, *POOLS, *DROPPED, nn.ReLU,
                                         nn.Flatten, nn.Upsample)}
MAX_INSPECT_ELEMENTS = 16_000_000
"""Largest input (elements per sample) :func:`inspect_model` pushes through a model."""


def inspect_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelReport:
    """Report the layers of ``model`` on input ``input_shape`` (no batch dim) before conversion.

    Lists every layer with its type, parameter count and output shape, marks the layers
    spikescope cannot convert and gives the reason conversion would fail, if it would.
    Never raises for a bad model: problems go into ``report.error``.
    """
    try:
        input_shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError, OverflowError) as e:
        return ModelReport([], (), error=f"input_shape must be a tuple of integers, got "
                                         f"{input_shape!r:.60} ({e})")
    if any(d < 1 for d in input_shape) or math.prod(input_shape) > MAX_INSPECT_ELEMENTS:
        return ModelReport([], input_shape, error=(
            f"input_shape {input_shape} must have positive sizes and at most "
            f"{MAX_INSPECT_ELEMENTS:,} elements per sample (spikescope.io.inspect."
            f"MAX_INSPECT_ELEMENTS)"))
    try:
        gm = trace(model)
    except ConversionError as e:
        return ModelReport([], input_shape, error=str(e), unsupported=[type(model).__name__])
    modules = dict(gm.named_modules())
    try:
        shapes = {n.target: tuple(v.shape[1:]) for n, v in examples_of(gm, input_shape).items()
                  if n.op == "call_module" and isinstance(v, torch.Tensor)}
        error = None
    except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
        shapes, error = {}, f"the model does not accept input of shape {input_shape}: {e}"
    infos: list[LayerInfo] = []
    unsupported: list[str] = []
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        m = modules[node.target]
        kind = m.kind if isinstance(m, UnsupportedLayer) else type(m).__name__
        ok = not isinstance(m, UnsupportedLayer) and kind in SUPPORTED_TYPES
        if not ok:
            unsupported.append(kind)
        shape = shapes.get(node.target)
        n = sum(p.numel() for p in m.parameters())
        infos.append(LayerInfo(node.target, kind, ok, n, shape))
    if unsupported:
        error = (f"unsupported layer(s) {', '.join(dict.fromkeys(unsupported))}; spikescope "
                 f"converts {', '.join(SUPPORTED_LAYERS)}")
    elif error is None:
        try:
            parse(model, input_shape)
        except ConversionError as e:
            error = str(e)
    return ModelReport(infos, input_shape, error=error, unsupported=unsupported)
