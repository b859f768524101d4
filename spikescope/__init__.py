"""spikescope: convert trained ANNs into spiking networks, step them in time, measure them.

The core is torch + numpy + numba only; the Panel dashboard lives in the separate ``widgets``
package. One subpackage per concept: ``neurons`` (update equations), ``codes`` (rate, TTFS,
pattern), ``sim`` (stages, network, recording), ``convert``, ``io``, ``data``, ``energy``,
``training``, ``sweep``.
"""

from . import _compat

_compat.install()

from .codes import pattern, ttfs  # noqa: E402, F401  (registers the temporal codes in CODES)
from .convert import (  # noqa: E402
    SUPPORTED_LAYERS,
    ConversionError,
    compute_lambdas,
    convert,
    normalize,
)
from .neurons import NeuronParams, if_step  # noqa: E402
from .sim import Recording, SpikingNetwork  # noqa: E402
from .sim.network import CODES  # noqa: E402

__all__ = ["convert", "compute_lambdas", "normalize", "ConversionError", "SUPPORTED_LAYERS",
           "SpikingNetwork", "CODES", "Recording", "NeuronParams", "if_step"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``spikescope.zoo``, ``spikescope.datasets``, ... without importing them first (lazy;
    old module names resolve to their new place, see :mod:`spikescope._compat`)."""
    import importlib

    if f"{__name__}.{name}" in _compat.MOVED or name in _compat.SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
