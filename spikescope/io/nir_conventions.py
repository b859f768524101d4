"""Where spikescope's neurons and NIR's definitions differ, and what to_nir/from_nir do about it.

NIR (https://neuroir.org) defines its neurons in continuous time:
IF ``dv/dt = R I``, LIF ``tau dv/dt = (v_leak - v) + R I``; a neuron fires when ``v > v_threshold``
and then resets to ``v_reset``. spikescope steps ``v <- leak * v + I`` (forward Euler, step dt),
fires at ``v >= threshold`` and by default resets by subtraction. At the boundary:

- IF: per-step input gain ``R dt`` (export: ``r = 1 / dt``). snnTorch, Norse and sinabs write
  IF ``r = 1`` whatever dt is and read r as ignored (or must be 1): ``to_nir(if_r="unit")``
  writes their convention, ``from_nir(if_r="unit")`` reads it (gain r per step).
- LIF: ``leak = 1 - dt / tau``, per-step input gain ``R dt / tau``; dt must be below tau.
- threshold: ``v >= t`` equals ``v > nextafter(t, -inf)`` in float32, so the file holds the
  float32 number just below spikescope's threshold and import takes the one just above NIR's.
- reset by subtraction, refractory periods and graded spikes have no NIR field: they are kept
  in metadata that only spikescope reads (to_nir warns; ``reset="zero"`` converts).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..convert.parse import ConversionError

IF_R = ("nir", "unit")
PEER_DT_HINT = "snnTorch and SpikingJelly write dt = 0.1 ms, Norse 1 ms"


class NIRSemanticsWarning(UserWarning):
    """A NIR file carries (or lacks) semantics other tools read differently."""


def export_threshold(threshold: float, shape: tuple[int, ...]) -> np.ndarray:
    """v_threshold for a NIR reader (fires at v > t) that fires where spikescope does (v >= t)."""
    return np.full(shape, np.nextafter(np.float32(threshold), np.float32(-np.inf)), np.float32)


def import_threshold(v_threshold: float) -> float:
    """spikescope's threshold (v >= t) for a NIR v_threshold (v > t), exact in float32."""
    return float(np.nextafter(np.float32(v_threshold), np.float32(np.inf)))


def check_if_r(if_r: str) -> str:
    if if_r not in IF_R:
        raise ValueError(f"if_r must be one of {IF_R} ('nir': per-step gain r*dt as NIR defines "
                         f"it; 'unit': gain r per step as snnTorch, Norse, sinabs write it), "
                         f"got {if_r!r}")
    return if_r


def if_gain(key: str, r: float, dt: float, if_r: str, dt_known: bool) -> float:
    """Per-step input gain of a NIR IF node; warns when r looks like another convention."""
    if if_r == "unit":
        return r
    gain = r * dt
    if not dt_known and abs(gain - 1.0) > 1e-6:
        warnings.warn(f"NIR node {key!r} (IF): r = {r:g} with dt = {dt * 1e3:g} ms gives a "
                      f"per-step input gain of {gain:g} under NIR's dv/dt = R I, and the graph "
                      f"does not say its dt. snnTorch, Norse and sinabs write IF r = 1 meaning "
                      f"gain 1 per step: pass from_nir(..., if_r='unit') for their files, or "
                      f"dt_ms=<the producer's step> ({PEER_DT_HINT})",
                      NIRSemanticsWarning, stacklevel=3)
    return gain


def lif_leak_gain(key: str, tau: float, r: float, dt: float) -> tuple[float, float]:
    """(leak, per-step gain) of a NIR LIF node at step dt; refuses dt >= tau, naming the fix."""
    if not tau > dt:
        raise ConversionError(
            f"NIR node {key!r} (LIF): tau = {tau:g} s is not longer than the time step "
            f"dt = {dt * 1e3:g} ms, so leak = 1 - dt/tau = {1 - dt / tau:g} is outside (0, 1]; "
            f"import with from_nir(..., dt_ms=<the producer's step>) ({PEER_DT_HINT})")
    return 1.0 - dt / tau, r * dt / tau


def resolve_dt(graph: Any, dt_ms: float | None, meta: dict) -> tuple[float, bool]:
    """(dt in ms, whether it is known): the argument, the graph's metadata, the step implied
    by unit-gain neurons (LIF r = tau/dt as spikescope, snnTorch, SpikingJelly write them; IF
    r = 1/dt as SpikingJelly writes it; warns), else 1 ms."""
    import nir

    if dt_ms is not None:
        return float(dt_ms), True
    if meta.get("dt_ms") is not None:
        return float(np.asarray(meta["dt_ms"])), True
    implied = {round(float(np.asarray(n.tau).flat[0] / np.asarray(n.r).flat[0]), 12)
               for n in graph.nodes.values() if isinstance(n, nir.LIF)
               and np.asarray(n.r).size and np.all(np.asarray(n.r) != 1)
               and np.all(np.asarray(n.r) > 0)}
    implied |= {round(1.0 / float(np.asarray(n.r).flat[0]), 12) for n in graph.nodes.values()
                if isinstance(n, nir.IF) and np.asarray(n.r).size
                and np.all(np.asarray(n.r) != 1) and np.all(np.asarray(n.r) > 0)}
    if len(implied) == 1:
        dt_s = implied.pop()
        warnings.warn(f"the NIR graph does not say its time step; its neurons have unit "
                      f"input gain at dt = {dt_s * 1e3:g} ms, which is used; pass "
                      f"from_nir(..., dt_ms=...) to choose another", NIRSemanticsWarning,
                      stacklevel=3)
        return dt_s * 1e3, True
    return 1.0, False


def export_notes(reset: str, refractory: int, graded: bool, if_r: str) -> list[str]:
    """What a NIR file written with these settings says that only spikescope reads."""
    notes = []
    if reset == "subtract":
        notes.append("reset by subtraction is kept in metadata only: NIR readers (snnTorch, "
                     "Norse, SpikingJelly, nirtorch) reset to v_reset = 0, so exact spike "
                     "counts differ; export with to_nir(net, reset='zero') for a hand-off")
    if refractory:
        notes.append(f"the refractory period ({refractory} steps) has no NIR field")
    if graded:
        notes.append("graded spikes have no NIR field")
    if if_r == "unit":
        notes.append("IF r = 1 (if_r='unit') follows snnTorch/Norse/sinabs, not NIR's "
                     "dv/dt = R I (a NIR-faithful reader such as SpikingJelly scales the input "
                     "by dt)")
    return notes
