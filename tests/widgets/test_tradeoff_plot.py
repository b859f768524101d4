"""The accuracy-vs-EDP plot (widgets.tradeoff_plot) on a hand-made trade-off table."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from widgets.tradeoff_plot import accuracy_vs_edp


def _table():
    t = pd.Series(range(1, 11))
    df = pd.DataFrame({"t": t, "accuracy": [0.1, 0.5, 0.7, 0.65, 0.9, 0.9, 0.95, 0.94, 0.96,
                                            0.96],
                       "energy_j": t * 1e-6, "delay_s": t * 1e-4})
    df["edp_js"] = df.energy_j * df.delay_s
    df.attrs["platform"] = "Loihi"
    return df


def test_plot_has_snn_curve_pareto_front_ann_point_and_early_decision():
    df = _table()
    ann = {"accuracy": 0.97, "energy_j": 2e-6, "delay_s": 5e-4, "edp_js": 1e-9}
    early = pd.DataFrame({"k": [1, 3], "accuracy": [0.9, 0.95], "energy_j": [3e-6, 5e-6],
                          "delay_s": [3e-4, 5e-4], "edp_js": [9e-10, 2.5e-9]})
    plot = accuracy_vs_edp(df, ann, early)
    assert isinstance(plot, hv.Overlay)
    labels = [el.label for el in plot]
    assert "Pareto front" in labels and "ANN" in labels and "early decision (k)" in labels
    front = next(el for el in plot if el.label == "Pareto front")
    # dominated points (t=4, t=6, t=8, t=10) are not on the front
    assert list(front.dframe()["t"]) == [1, 2, 3, 5, 7, 9]
    ann_el = next(el for el in plot if el.label == "ANN")
    assert ann_el.dframe()["accuracy"].iloc[0] == 0.97
    hv.render(plot, backend="bokeh")  # renders without error


def test_plot_without_ann_point():
    plot = accuracy_vs_edp(_table())
    assert "ANN" not in [el.label for el in plot]
    assert "Loihi" in plot.opts.get().kwargs["title"]
