"""Simulation: stages (:mod:`.stages`), exact sums (:mod:`.exact`), the network and its two
paths, stepping (:mod:`.network`) and layer by layer (:mod:`.layerwise`), the state of a run
(:mod:`.state`), the recorder both paths append to (:mod:`.recorder`) and what a run
records (:mod:`.recording`); a layer's membrane replayed from a recording (:mod:`.replay`).

``SpikingNetwork``, ``Recording`` and ``Stage`` are importable from here; nothing is imported
eagerly, so the codes (which the network uses) can import the recording and stages.
"""

from importlib import import_module

_NAMES = {"SpikingNetwork": ".network", "Recording": ".recording", "Stage": ".stages",
          "replay_membrane": ".replay"}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(_NAMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
