"""Neuromorphic chips and reference hardware with their published costs.

:data:`PLATFORMS` holds joules per synaptic operation (SOP) of neuromorphic chips, seconds per
algorithmic step, and the measured per-inference figures of Blouw et al. 2019 as reference
rows. ``energy = SOPs x J/SOP (+ power x delay)``, ``delay = steps x seconds per step``,
``EDP = energy x delay`` (thesis Sec. 3.3.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import pandas as pd

from ..registry import Registry

SURVEY_SOURCE = ("'Spikes are the next digits' (2024), table of neuromorphic chips, "
                 "column J/SOP")
THESIS_SOURCE = "Rueckauer (2020) thesis, Ch. 3, Table 3.4 (Loihi MNIST: 6.65 ms for 100 steps)"
BLOUW_SOURCE = ("Blouw et al. 2019, 'Benchmarking keyword spotting efficiency on neuromorphic "
                "hardware', NICE '19, Table 1 (two-layer 256-neuron keyword spotter)")


@dataclass(frozen=True)
class Platform:
    """A chip with its published costs.

    energy_per_sop_j: joules per synaptic operation (None for reference rows).
    seconds_per_step: wall-clock seconds per algorithmic time step (None = real time, i.e.
        the recording's dt).
    static_power_w: power drawn regardless of activity, charged as power x delay (0 = only
        the per-SOP energy, as the survey figures are).
    energy_per_inference_j, seconds_per_inference: measured per-inference figures (reference
        rows for conventional hardware, or an ANN platform).
    source, delay_source: where the numbers come from.
    """

    name: str
    energy_per_sop_j: float | None = None
    seconds_per_step: float | None = None
    source: str = "user"
    delay_source: str = ""
    static_power_w: float = 0.0
    energy_per_inference_j: float | None = None
    seconds_per_inference: float | None = None
    kind: str = "neuromorphic"  # or "reference"

    def __post_init__(self) -> None:
        for f in ("energy_per_sop_j", "seconds_per_step", "energy_per_inference_j",
                  "seconds_per_inference"):
            v = getattr(self, f)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"platform {self.name!r}: {f} must be a finite number >= 0 "
                                 f"or None, got {v}")
        if not (math.isfinite(self.static_power_w) and self.static_power_w >= 0):
            raise ValueError(f"platform {self.name!r}: static_power_w must be >= 0")

    def step_s(self, dt_ms: float = 1.0) -> float:
        """Seconds per time step (the recording's dt in real time if the chip has none)."""
        return self.seconds_per_step if self.seconds_per_step is not None else dt_ms * 1e-3


def _chip(name: str, j_per_sop: float, *, step: float | None = None,
          delay_source: str = "", note: str = "") -> Platform:
    src = SURVEY_SOURCE + (f"; {note}" if note else "")
    return Platform(name, j_per_sop, step, src,
                    delay_source or "none published: real time (the recording's dt) assumed")


def _ref(name: str, energy_j: float, inf_per_s: float) -> Platform:
    return Platform(name, source=BLOUW_SOURCE, delay_source=BLOUW_SOURCE + ", 1 / (Inf/Sec)",
                    energy_per_inference_j=energy_j, seconds_per_inference=1.0 / inf_per_s,
                    kind="reference")


_DEFAULT_PLATFORMS = [
    _chip("SpiNNaker-1", 1.13e-8, step=1e-3,
          delay_source="SpiNNaker's default real-time 1 ms simulation time step"),
    _chip("TrueNorth", 4.86e-11, step=1e-3,
          delay_source="TrueNorth's 1 kHz tick (thesis Table 3.4: 1 ms per inference)"),
    _chip("ODIN", 8.40e-12),
    _chip("Loihi", 2.36e-11, step=6.65e-3 / 100, delay_source=THESIS_SOURCE,
          note="row Loihi-1"),
    _chip("Tianjic", 7.82e-13),
    _chip("uBrain", 6.27e-13, note="row µBrain"),
    _chip("SpiNNaker-2", 1.50e-11),
    _chip("Loihi-2", 1.61e-11),
    _chip("ReckOn", 5.47e-12),
    _chip("BrainScaleS-2", 1.00e-11),
    _chip("SNE", 2.21e-13),
    _chip("THOR", 1.40e-12),
    _chip("ANP-I", 1.50e-12),
    _chip("NorthPole", 8.76e-11),
    _chip("Darwin-3", 5.47e-12),
    Platform("Loihi board (thesis MNIST)", 0.0, 6.65e-3 / 100,
             "Rueckauer (2020) thesis Table 3.5: total measured power 1812.41 mW (x86 + "
             "neurocores, static + dynamic) while running MNIST; energy = power x delay",
             THESIS_SOURCE, static_power_w=1.81241),
    _ref("CPU (Blouw 2019)", 6.3e-3, 1813.63),
    _ref("GPU (Blouw 2019)", 29.8e-3, 770.39),
    _ref("Jetson TX1 (Blouw 2019)", 5.6e-3, 419),
    _ref("Movidius NCS (Blouw 2019)", 1.5e-3, 300),
    _ref("Loihi KWS (Blouw 2019)", 0.27e-3, 296),
]

PLATFORMS: Registry[Platform] = Registry("platform")
for _p in _DEFAULT_PLATFORMS:
    PLATFORMS.register(_p.name, _p)
"""Platform name -> :class:`Platform`. Edit in place or with :func:`add_platform`."""


def add_platform(name: str, energy_per_sop_j: float | None = None,
                 seconds_per_step: float | None = None, source: str = "user", *,
                 overwrite: bool = False, **fields) -> Platform:
    """Add (or with ``overwrite=True`` replace) a platform in :data:`PLATFORMS`.

    Example: ``add_platform("my-chip", 2e-12, 1e-4, "datasheet v1")``.
    """
    if not name or not isinstance(name, str):
        raise ValueError("a platform needs a non-empty name")
    if name in PLATFORMS and not overwrite:
        raise ValueError(f"platform {name!r} exists; pass overwrite=True or use edit_platform")
    p = Platform(name, energy_per_sop_j, seconds_per_step, source, **fields)
    PLATFORMS[name] = p
    return p


def edit_platform(name: str, **changes) -> Platform:
    """Change fields of an existing platform, e.g. ``edit_platform("Loihi",
    seconds_per_step=5e-5, delay_source="my measurement")``."""
    p = replace(get_platform(name), **changes)
    PLATFORMS[name] = p
    return p


def reset_platforms() -> None:
    """Restore :data:`PLATFORMS` to the sourced defaults."""
    PLATFORMS.clear()
    PLATFORMS.update({p.name: p for p in _DEFAULT_PLATFORMS})


def get_platform(platform: str | Platform) -> Platform:
    """Look up a platform by name (or pass a :class:`Platform` through)."""
    if isinstance(platform, Platform):
        return platform
    return PLATFORMS.get_or_raise(platform)


def platforms_table() -> pd.DataFrame:
    """All platforms as a table (one row each, with sources)."""
    return pd.DataFrame([asdict(p) for p in PLATFORMS.values()])
