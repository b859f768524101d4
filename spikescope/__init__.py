"""spikescope: convert trained ANNs into spiking networks, step them in time, measure them.

The core is torch + numpy only; the Panel dashboard lives in the separate ``widgets`` package.
"""

from . import pattern, ttfs  # noqa: F401  (registers the temporal codes in CODES)
from .convert import compute_lambdas, convert, normalize
from .layers import SUPPORTED_LAYERS, ConversionError
from .network import CODES, SpikingNetwork
from .neurons import NeuronParams, if_step
from .recording import Recording

__all__ = ["convert", "compute_lambdas", "normalize", "ConversionError", "SUPPORTED_LAYERS",
           "SpikingNetwork", "CODES", "Recording", "NeuronParams", "if_step"]
__version__ = "0.1.0"
