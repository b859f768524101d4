"""Tracing a torch model with torch.fx down to its torch.nn layers (for :mod:`.parse` and
:func:`spikescope.io.inspect.inspect_model`)."""

from __future__ import annotations

import torch
from torch import fx, nn

from ..errors import ConversionError


class _Tracer(fx.Tracer):
    """Traces through nn.Sequential and custom blocks down to torch.nn layers (and modules
    marked ``spikescope_leaf``, e.g. placeholders for unsupported layers)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if getattr(m, "spikescope_leaf", False):
            return True
        return m.__module__.startswith("torch.nn") and not isinstance(
            m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def _wrapped(model: nn.Module) -> nn.Module:
    """A model that is one torch.nn layer, inside an nn.Sequential (so tracing sees it)."""
    return nn.Sequential(model) if _Tracer().is_leaf_module(model, "") else model


def trace(model: nn.Module) -> fx.GraphModule:
    """``model`` traced by torch.fx into its torch.nn layers and functional ops;
    ConversionError when it cannot be traced."""
    model = _wrapped(model)
    try:
        return fx.GraphModule(model, _Tracer().trace(model))
    except Exception as e:  # noqa: BLE001 - any trace failure is a conversion failure
        raise ConversionError(f"cannot trace {type(model).__name__} with torch.fx "
                              f"({type(e).__name__}: {e}); data-dependent control flow "
                              f"in forward() is not supported") from e


def leaf_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers (module path, module) in the order its forward() calls them."""
    gm = trace(model)
    modules = dict(gm.named_modules())
    return [(n.target, modules[n.target]) for n in gm.graph.nodes if n.op == "call_module"]


def examples_of(gm: fx.GraphModule, input_shape: tuple[int, ...]) -> dict[fx.Node, object]:
    """Every node's value on one example input (for shapes)."""
    values: dict[fx.Node, object] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node):
            values[n] = out = super().run_node(n)
            return out

    try:
        with torch.no_grad():
            Recorder(gm).run(torch.rand((1, *input_shape)))
    except RuntimeError as e:
        raise ConversionError(f"the model does not accept input of shape {input_shape}: "
                              f"{e}") from e
    return values
