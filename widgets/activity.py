"""Per-layer activity: firing rates, saturated and silent shares, lambdas, ANN-SNN agreement."""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import panel as pn

from spikescope.codes.ttfs_diagnostics import ttfs_diagnostics

from .base import LAYER_COLORS, View, help_text, hv_pane
from .graph_view import NetworkGraphView
from .layer_error import layer_error_plot
from .spatial import SpatialView


def activity_table(session, t: int) -> str:
    """Markdown table: one row per layer with lambda, rate, saturated, silent, correlation."""
    rows = ["| layer | lambda | mean rate (Hz) | saturated | silent | ANN-SNN r |",
            "|---|---:|---:|---:|---:|---:|"]
    for a in session.activity(t):
        r = "–" if math.isnan(a["correlation"]) else f"{a['correlation']:.3f}"
        rows.append(f"| {a['layer']} | {a['lambda']:.4g} | {a['rate_hz']:.1f} | "
                    f"{a['saturated']:.1%} | {a['silent']:.1%} | {r} |")
    return "\n".join(rows)


def ttfs_table(session) -> str:
    """Markdown table of :func:`spikescope.codes.ttfs_diagnostics` for the session's sample
    when its code is a TTFS code (and it has an ANN and a static input); "" otherwise."""
    net, rec = getattr(session, "net", None), getattr(session, "recording", None)
    if (net is None or rec is None or session.ann is None or not session.code.startswith("ttfs")
            or session.encoding == "events" or rec.spike_trains is None):
        return ""
    d = ttfs_diagnostics(net, session.ann, session.x, rec, encoding=session.encoding)

    def pct(v):
        return "–" if math.isnan(v) else f"{v:.0%}"

    rows = ["**Time to first spike** (this sample): r = correlation of 1/t with the "
            "normalized ANN activation; premature = fired before an ANN-active input that "
            "came later; never = ANN-active but never fired; decision = step of the first "
            "output spike.", "",
            "| layer | r (1/t vs ANN) | premature | never | spurious | decision |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in d.itertuples():
        corr = "–" if math.isnan(r.corr) else f"{r.corr:.3f}"
        dec = "–" if math.isnan(r.decision_t) else f"t = {r.decision_t:.0f}"
        rows.append(f"| {r.layer} | {corr} | {pct(r.premature)} | {pct(r.silent_active)} | "
                    f"{pct(r.spurious)} | {dec} |")
    return "\n".join(rows)


class ActivityView(View):
    """Rates, saturation/silence, lambdas and ANN activation vs SNN rate for each layer."""

    help = ("Left: mean firing rate of each layer over the first t steps (Hz; 1000 Hz = one "
            "spike per 1 ms step, the most an IF neuron fires). Middle: share of neurons that "
            "fired at every step (saturated: the ANN value exceeds lambda and is clipped) and "
            "that never fired (silent). Right: each dot is a neuron, its normalized ANN "
            "activation vs its SNN rate in spikes per step; on the diagonal the conversion is "
            "exact. The table lists lambda_l (the normalization factor from the percentile) "
            "and the correlation r.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self.graph = NetworkGraphView(self.session)
        self.spatial = SpatialView(self.session)
        self.errors = hv.DynamicMap(pn.bind(lambda version: layer_error_plot(self.session),
                                            version=self.session.param.version))
        self.rates = hv.DynamicMap(self._bind(self._rates))
        self.shares = hv.DynamicMap(self._bind(self._shares))
        self.scatter = hv.DynamicMap(self._bind(self._scatter))
        self.table = pn.pane.Markdown(self._bind(lambda t, version: activity_table(
            self.session, t)), sizing_mode="stretch_width")
        self.ttfs = pn.pane.Markdown(self._bind(lambda t, version: ttfs_table(
            self.session)), sizing_mode="stretch_width")
        self.suggestion = pn.pane.Alert(self._bind(self._suggest), alert_type="info",
                                        sizing_mode="stretch_width")

    def _suggest(self, t, version):
        return "**Suggested percentile:** " + self.session.suggestion(t)

    def _rates(self, t, version):
        act = self.session.activity(t)
        data = [(a["layer"], a["rate_hz"]) for a in act]
        top = max([d[1] for d in data] + [1.0])
        return hv.Bars(data, "layer", "rate (Hz)").opts(
            title="Mean firing rate", color="layer", cmap=LAYER_COLORS[:len(data)],
            show_legend=False,
            ylim=(0, top * 1.15), responsive=True, height=240, tools=["hover"],
            framewise=True, ylabel="rate (Hz)")

    def _shares(self, t, version):
        act = self.session.activity(t)
        data = [(a["layer"], kind, 100 * a[kind]) for a in act for kind in ("saturated",
                                                                          "silent")]
        return hv.Bars(data, ["layer", "kind"], "neurons (%)").opts(
            title="Saturated (red) / silent (gray) neurons", ylim=(0, 100), responsive=True,
            height=240,
            tools=["hover"], color="kind", cmap=["#d62728", "#7f7f7f"], framewise=True,
            stacked=True, legend_position="right")  # beside the bars, not over them

    def _scatter(self, t, version):
        s = self.session
        counts = s.counts_at(t)
        xs, ys, ls = [], [], []
        for l, c in enumerate(counts):
            xs.append(s.ann_rates[l].cpu().numpy())
            ys.append(c / max(t, 1))
            ls.append(np.full(len(c), l))
        x, y, lay = (np.concatenate(v) if v else np.zeros(0) for v in (xs, ys, ls))
        names = np.array(s.layer_names, dtype=object)[lay.astype(int)] if len(lay) else lay
        top = max(float(x.max()) if len(x) else 1.0, 1.0) * 1.05
        pts = hv.Points((x, y, names, lay), ["ANN activation", "SNN rate (spikes/step)"],
                        ["layer", "index"]).opts(
            color="index", cmap=LAYER_COLORS, clim=(-0.5, 9.5), size=3, alpha=0.5,
            tools=["hover"], colorbar=False)
        diag = hv.Curve([(0, 0), (top, top)]).opts(color="gray", line_dash="dashed")
        return (pts * diag).opts(title="ANN activation vs SNN rate", xlim=(0, top),
                                 ylim=(0, 1.05), responsive=True, height=240, framewise=True)

    def __panel__(self):
        plots = pn.Row(*[hv_pane(p, sizing_mode="stretch_width")
                         for p in (self.rates, self.shares, self.scatter)],
                       sizing_mode="stretch_width")
        return pn.Column(self.suggestion, plots, self.table, self.ttfs, help_text(self.help),
                         hv_pane(self.errors), self.graph, self.spatial,
                         sizing_mode="stretch_width")
