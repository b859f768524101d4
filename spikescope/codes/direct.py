"""The code of directly trained networks (:mod:`spikescope.training`)."""

from __future__ import annotations

from .base import Code, register_code


@register_code("direct")
class Direct(Code):
    """A network trained with surrogate gradients: the rate code's dynamics, each layer with
    its own neuron parameters (``layer_params``: learned leaks), spike-count readout."""
