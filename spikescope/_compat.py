"""Old module paths (spikescope <= 0.1 had one flat folder) as aliases of the new ones.

``import spikescope.network`` or ``from spikescope.encoding import encode`` keep working:
the old name resolves to the very module object at its new place (no copy, no second import).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "spikescope.kernels": "spikescope.neurons.numba_kernel",
    "spikescope.encoding": "spikescope.codes.encoders",
    "spikescope.ttfs": "spikescope.codes.ttfs",
    "spikescope.pattern": "spikescope.codes.pattern",
    "spikescope.signal_encoders": "spikescope.codes.signal_encoders",
    "spikescope.layers": "spikescope.sim.stages",
    "spikescope.exact": "spikescope.sim.exact",
    "spikescope.network": "spikescope.sim.network",
    "spikescope.layerwise": "spikescope.sim.layerwise",
    "spikescope.recording": "spikescope.sim.recording",
    "spikescope.datasets": "spikescope.data.datasets",
    "spikescope.dvs": "spikescope.data.dvs",
    "spikescope.train": "spikescope.training",
    "spikescope.recurrent": "spikescope.training.recurrent",
    "spikescope.rules": "spikescope.training.rules",
    "spikescope.sampling": "spikescope.training.sampling",
}
"""Old module name -> the module that now holds its contents."""


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves a name of :data:`MOVED` to the module at its new place."""

    def find_spec(self, name, path=None, target=None):
        if name in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        """Nothing to run: the new module was imported by :meth:`create_module`."""


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())

SUBMODULES = ("codes", "convert", "data", "energy", "experiments", "io", "jets", "metrics",
              "neurons", "registry", "sim", "sweep", "training", "zoo")
"""Subpackages and modules that ``spikescope.<name>`` imports on first access."""
