"""Trade-off plots: accuracy vs energy-delay product (thesis Fig. 3.10) with the ANN point and
the Pareto front, and error vs operations per code (thesis Fig. 2.11).

Built on the tables of :mod:`spikescope.energy`: ``tradeoff(...)`` (one row per time step),
``ann_point(...)`` and optionally ``early_decision_curve(...)``.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import pandas as pd

from spikescope.energy import pareto_front

hv.Store.set_current_backend("bokeh")

SNN_COLOR, ANN_COLOR, FRONT_COLOR, EARLY_COLOR = "#d62728", "#1f77b4", "#2ca02c", "#9467bd"
VDIMS = [hv.Dimension("accuracy", range=(0, 1.02)), "t", "energy_j", "delay_s"]


def accuracy_vs_edp(df: pd.DataFrame, ann_point: dict | None = None,
                    early: pd.DataFrame | None = None, *, title: str | None = None,
                    width: int | None = 520, height: int = 340, **opts) -> hv.Overlay:
    """Accuracy against EDP [J*s] (log axis): the SNN after every step t, its Pareto front,
    the ANN's point (star) and, if given, the early-decision policy for several k.

    ``opts`` are further options of the overlay (e.g. ``responsive=True, width=None`` and an
    ``xlim`` that holds every point)."""
    d = df[df["edp_js"] > 0]
    kd = hv.Dimension("edp_js", label="EDP", unit="J*s")
    curve = hv.Curve(d, kd, VDIMS, label="SNN after t steps").opts(color=SNN_COLOR, alpha=0.5)
    points = hv.Scatter(d, kd, VDIMS).opts(color=SNN_COLOR, size=4, tools=["hover"])
    front = pareto_front(d)
    layers = [curve, points,
              hv.Curve(front, kd, VDIMS, label="Pareto front").opts(
                  color=FRONT_COLOR, line_width=3, interpolation="steps-post")]
    if early is not None and len(early):
        e = early[early["edp_js"] > 0]
        layers.append(hv.Scatter(e, kd, [VDIMS[0], "k", "energy_j", "delay_s"],
                                 label="early decision (k)").opts(
            color=EARLY_COLOR, marker="triangle", size=9, tools=["hover"]))
    if ann_point is not None:
        a = pd.DataFrame([ann_point])
        layers.append(hv.Scatter(a, kd, [VDIMS[0], "energy_j", "delay_s"], label="ANN").opts(
            color=ANN_COLOR, marker="star", size=16, tools=["hover"]))
    platform = df.attrs.get("platform", "")
    if width is not None:
        opts["width"] = width
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(title=title or f"Accuracy vs EDP on {platform}", logx=True,
                        height=height, legend_position="bottom_right", show_grid=True, **opts))


def plot_error_vs_ops(df: pd.DataFrame):
    """Error [%] versus operations per sample (log x) from the table of
    :func:`spikescope.experiments.error_vs_ops`: one curve per code/variant and the ANN as a
    point (the shape of thesis Fig. 2.11)."""
    df = df.assign(error_pct=100 * df["error"])
    elements = []
    for (code, variant), part in df.groupby(["code", "variant"], sort=False):
        label = code if code in ("ann", "rate", "pattern") else f"{code} ({variant})"
        part = part.sort_values("ops")
        kdims, vdims = ["ops"], ["error_pct", "steps", "bits", "spikes"]
        if code == "pattern":
            elements.append(hv.Scatter(part, kdims, vdims, label="pattern"))
            continue
        elements.append(hv.Curve(part, kdims, vdims, label=label))
        elements.append(hv.Scatter(part, kdims, vdims, label=label))
    pat = df[df["code"] == "pattern"].sort_values("ops")
    if len(pat):
        elements.append(hv.Curve(pat, ["ops"], ["error_pct"], label="pattern"))
        elements.append(hv.Labels(pat.assign(text=pat["bits"].astype(int).astype(str) + " bit"),
                                  ["ops", "error_pct"], "text"))
    return hv.Overlay(elements).opts(
        hv.opts.Curve(logx=True), hv.opts.Scatter(logx=True, size=6, tools=["hover"]),
        hv.opts.Overlay(xlabel="operations per sample", ylabel="error [%]", logx=True,
                        title="Error vs operations", legend_position="top_right"))
