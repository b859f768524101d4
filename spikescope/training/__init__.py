"""Training spiking networks: surrogate-gradient BPTT (:mod:`.snn`), recurrent LIF/ALIF cells
(:mod:`.recurrent`), learning rules e-prop / BPTT / Manhattan (:mod:`.rules`) and weight
sampling for uncertainty (:mod:`.sampling`).

``spikescope.train`` (the old module name) is this package.
"""

from ..neurons.surrogate import (
    SURROGATES,
    SurrogateSpike,
    pseudo_derivative,
    spike,
    surrogate_step,
)
from .clamped import ClampedReLU, finetune_clamped
from .snn import (
    SNN,
    fit,
    load,
    predict,
    save,
    spike_count_cross_entropy,
    spike_count_mse,
    ssim,
    to_spiking_network,
)

__all__ = ["ClampedReLU", "SNN", "SURROGATES", "SurrogateSpike",
           "finetune_clamped", "fit", "load", "predict", "pseudo_derivative", "save", "spike",
           "spike_count_cross_entropy", "spike_count_mse", "ssim", "surrogate_step",
           "to_spiking_network"]
