"""Axis limits from the data a plot shows (pure numpy): a plot's ranges always contain its
finite data, log axes start above zero, and an empty plot gets a sensible placeholder."""

from __future__ import annotations

import numpy as np

#: Tick labels of log axes: Bokeh's default writes "5.000e-7 1.000e-6 1.500e-6" over each
#: other when a log range spans less than a decade; "%.3g" gives "5e-07", "1e+05".
LOG_TICKS = "%.3g"


def data_limits(*arrays, log: bool = False, pad: float = 0.05,
                empty: tuple[float, float] | None = None) -> tuple[float, float]:
    """(low, high) that contain every finite value of ``arrays`` with a margin.

    Linear: ``pad`` x the span on each side (a flat series gets +-10% of its value, at least
    +-1). Log: only values > 0 count and the margin is ``pad`` x the span in decades (at least
    0.1 decade). No usable value: ``empty`` (default (0, 1), or (1e-9, 1e-3) on a log axis).
    """
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays \
        else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    if vals.size == 0:
        return empty if empty is not None else ((1e-9, 1e-3) if log else (0.0, 1.0))
    lo, hi = float(vals.min()), float(vals.max())
    if log:
        llo, lhi = np.log10(lo), np.log10(hi)
        margin = max(pad * (lhi - llo), 0.1)
        return float(10 ** (llo - margin)), float(10 ** (lhi + margin))
    if hi > lo:
        margin = pad * (hi - lo)
    else:
        margin = max(abs(lo) * 0.1, 1.0)
    return lo - margin, hi + margin


def clipped(limits: tuple[float, float], low: float | None = None,
            high: float | None = None) -> tuple[float, float]:
    """``limits`` cut to ``low``..``high`` (e.g. 0..100 % for accuracies)."""
    lo, hi = limits
    if low is not None:
        lo = max(lo, low)
    if high is not None:
        hi = min(hi, high)
    return lo, hi
