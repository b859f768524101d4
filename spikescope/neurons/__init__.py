"""Neuron models behind one interface (:class:`NeuronModel`, :mod:`.base`): parameters, state
and one step; the IF/LIF reference (:mod:`.if_lif`, eq. 2.4) with its compiled backend
(:mod:`.numba_kernel`); surrogate spike functions for training (:mod:`.surrogate`).

``NEURONS`` maps names to models; ``@register_neuron(name)`` adds one.
"""

from .base import (
    NEURONS,
    RESETS,
    LayerRun,
    NeuronModel,
    NeuronParams,
    NeuronState,
    init_state,
    neuron_model,
    register_neuron,
)
from .if_lif import IF, LIF, if_step, if_surrogate_step, rate_current_curve

__all__ = ["IF", "LIF", "NEURONS", "RESETS", "LayerRun", "NeuronModel", "NeuronParams",
           "NeuronState", "if_step", "if_surrogate_step", "init_state", "neuron_model",
           "rate_current_curve", "register_neuron"]
