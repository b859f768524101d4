"""spikescope: convert trained ANNs into spiking networks, step them in time, measure them.

The core is torch + numpy + numba only; the Panel dashboard lives in the separate ``widgets``
package. One subpackage per concept: ``neurons`` (update equations), ``codes`` (rate, TTFS,
pattern), ``sim`` (stages, network, recording), ``convert``, ``io``, ``data``, ``energy``,
``training``, ``sweep``. Extension points: ``register_neuron`` / ``NEURONS`` and
``register_code`` / ``CODES``.
"""

from . import _compat

_compat.install()

from .codes import CODES, Code, register_code  # noqa: E402
from .convert import (  # noqa: E402
    SUPPORTED_LAYERS,
    ConversionError,
    compute_lambdas,
    convert,
    normalize,
)
from .neurons import NEURONS, NeuronModel, NeuronParams, if_step, register_neuron  # noqa: E402
from .registry import Registry, RegistryError  # noqa: E402
from .sim.network import SpikingNetwork  # noqa: E402
from .sim.recording import Recording  # noqa: E402

__all__ = ["CODES", "NEURONS", "SUPPORTED_LAYERS", "Code", "ConversionError", "NeuronModel",
           "NeuronParams", "Recording", "Registry", "RegistryError", "SpikingNetwork",
           "compute_lambdas", "convert", "if_step", "normalize", "register_code",
           "register_neuron"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``spikescope.zoo``, ``spikescope.datasets``, ... without importing them first (lazy;
    old module names resolve to their new place, see :mod:`spikescope._compat`)."""
    import importlib

    if f"{__name__}.{name}" in _compat.MOVED or name in _compat.SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
