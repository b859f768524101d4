"""Per-layer error of the SNN against the ANN over time: the mean absolute difference between
each neuron's rate so far (spikes / t) and its normalized ANN activation (clipped to [0, 1],
the most a neuron can fire), the quantity the thesis uses to explain slow convergence in deep
layers (Sec. 2.1.3)."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from .base import LAYER_COLORS


def layer_errors(session) -> np.ndarray:
    """(T, L): per step t = 1..T and layer, mean |rate after t steps - min(a, 1)| of sample 0."""
    rec, T = session.recording, session.recording.timesteps
    steps = np.arange(1, T + 1, dtype=np.float32)[:, None]
    out = []
    for l, trains in enumerate(rec.spike_trains):
        target = np.clip(session.ann_rates[l].cpu().numpy().astype(np.float32), 0, 1)
        rate = trains[:, 0].float().cumsum(0).cpu().numpy() / steps  # (T, N) float32
        out.append(np.abs(rate - target[None]).mean(1))
    return np.stack(out, 1)


def layer_error_plot(session) -> hv.Overlay:
    """One curve per layer of :func:`layer_errors` against time (ms), ranges from the data
    (a HoloViews overlay for notebooks; the Activity tab draws :func:`layer_errors` in a figure
    it updates in place, once per run)."""
    err = layer_errors(session)
    t_ms = np.arange(1, len(err) + 1) * session.dt_ms
    curves = [hv.Curve((t_ms, err[:, l]), "time (ms)", "mean |rate - ANN|", label=name).opts(
        color=LAYER_COLORS[l % len(LAYER_COLORS)]) for l, name in enumerate(session.layer_names)]
    top = max(float(err.max()), 1e-3) * 1.05
    return hv.Overlay(curves).opts(
        title="Rate error per layer vs ANN", xlim=(0, float(t_ms[-1])), ylim=(0, top),
        responsive=True, height=240, legend_position="right", tools=["hover"],
        framewise=True)
