"""Reading a result table: its Pareto front and its measured columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import energy


def pareto_front(df: pd.DataFrame, cost: str = "synaptic_ops",
                 value: str = "accuracy") -> np.ndarray:
    """Boolean mask of the rows no other row beats: lower-or-equal ``cost`` with higher-or-equal
    ``value``, strictly better in one (both minimised/maximised as named). Rows with a missing
    or infinite cost or value are left out; identical rows on the front are all kept
    (:func:`spikescope.energy.pareto_front` with ``ties="all"``, ``finite_only=True``)."""
    front = energy.pareto_front(df.reset_index(drop=True), cost, value, ties="all",
                                finite_only=True)
    mask = np.zeros(len(df), dtype=bool)
    mask[front.index.to_numpy()] = True
    return mask


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Measured scalar columns of a result table (accuracy, ops, spikes, energy/EDP@platform)."""
    base = ["accuracy", "ann_accuracy", "synaptic_ops", "spikes_per_sample"]
    extra = [c for c in df.columns if "@" in str(c)]
    return [c for c in base if c in df.columns] + extra
