"""Neuron models: parameters, state and the update equations (eq. 2.4), with compiled
backends (:mod:`.numba_kernel`) and surrogate spike functions for training (:mod:`.surrogate`).
"""

from .if_lif import RESETS, NeuronParams, NeuronState, if_step, init_state, rate_current_curve

__all__ = ["RESETS", "NeuronParams", "NeuronState", "if_step", "init_state",
           "rate_current_curve"]
