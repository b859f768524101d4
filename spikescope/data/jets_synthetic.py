"""A synthetic stand-in for the hls4ml jet data: the same schema (the 16 feature names of
:data:`spikescope.data.jets.FEATURES`, labels g/q/w/z/t), so the jet case runs end to end
without the real file. Its numbers say nothing about real jets.

Built so that its hardest pair is the one of real jets, W <-> Z (two-prong jets of similar
mass), then g <-> q; top jets stay the easiest. Features sit on very different scales, as
the real ones do, so standardization matters.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .jets import CLASSES, FEATURES, LABEL

SYNTHETIC_NOTE = ("SYNTHETIC stand-in data (not real jets): Gaussian classes in the schema of "
                  "the hls4ml jet data, with W vs Z and g vs q made the hardest pairs. Its "
                  "accuracies and confusions say nothing about real jets.")


def synthetic_jets(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (n, 16) float64 in :data:`FEATURES` order and labels (n,) indexing
    :data:`CLASSES`: class centres ~ N(0, 1), Z = 0.7 W + 0.3 Z and q = 0.5 g + 0.5 q,
    noise N(0, 1.1^2), each feature scaled by a factor in [0.1, 50] (seeded)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of jets, got {n}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    centers = rng.normal(0, 1.0, (len(CLASSES), len(FEATURES)))
    centers[3] = 0.7 * centers[2] + 0.3 * centers[3]  # Z resembles W
    centers[1] = 0.5 * centers[0] + 0.5 * centers[1]  # q resembles g
    x = centers[y] + rng.normal(0, 1.1, (n, len(FEATURES)))
    return x * rng.uniform(0.1, 50, len(FEATURES)), y


def write_synthetic_jets(path: str | os.PathLike, n: int = 4000, seed: int = 0) -> Path:
    """Write :func:`synthetic_jets` as a CSV file that :func:`spikescope.data.jets.read_jets`
    reads (columns :data:`FEATURES` and ``class``); returns the path."""
    x, y = synthetic_jets(n, seed)
    rows = [",".join([*FEATURES, LABEL])]
    rows += [",".join(f"{v:.6g}" for v in r) + "," + CLASSES[c] for r, c in zip(x, y)]
    path = Path(path)
    path.write_text("\n".join(rows) + "\n")
    return path
