"""Report a model's layers before conversion: types, parameters, shapes, what cannot convert."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..convert.parse import SUPPORTED_LAYERS, ConversionError, leaf_layers, parse
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
