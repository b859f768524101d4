"""Per-layer activity: firing rates, saturated and silent shares, lambdas, ANN-SNN agreement.

Every plot of the tab is updated in one batch per frame, only while the tab is shown
(:attr:`View.on_screen`), and sends what a person can see: the ANN activation vs SNN rate of
networks above :data:`SCATTER_POINTS` neurons is a fixed-size 2-D histogram, not a dot per
neuron."""

from __future__ import annotations

import math

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LegendItem, Range1d
from bokeh.plotting import figure

from spikescope.codes.ttfs_diagnostics import ttfs_diagnostics

from .base import (
    View,
    bokeh_pane,
    compact_legend,
    help_text,
    layer_color,
    legend_proxy,
    live_figure,
)
from .graph_view import NetworkGraphView
from .layer_error import layer_errors
from .spatial import SpatialView

#: Above this many neurons the activation-vs-rate scatter is a 2-D histogram of
#: ``SCATTER_BINS`` bins (bytes per update bounded whatever the network's size); below it
#: every neuron is a dot.
SCATTER_POINTS = 5_000
SCATTER_BINS = (80, 80)  # (x: ANN activation, y: SNN rate)
RATE_TOP = 1.05  # the rate axis ends here (at most one spike per step)


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


def scatter_histogram(ann: np.ndarray, rate: np.ndarray, layer: np.ndarray, n_layers: int,
                      x_top: float, bins: tuple[int, int] = SCATTER_BINS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(neurons, dominant): per bin (rows: rate 0..RATE_TOP, columns: ANN activation
    0..x_top) the number of neurons, and the layer holding most of them (-1: empty bin)."""
    bx, by = bins
    ix = np.clip((ann * (bx / x_top)).astype(np.int64), 0, bx - 1)
    iy = np.clip((rate * (by / RATE_TOP)).astype(np.int64), 0, by - 1)
    per_layer = np.bincount(layer * (bx * by) + iy * bx + ix,
                            minlength=n_layers * bx * by).reshape(n_layers, by, bx)
    neurons = per_layer.sum(0)
    return neurons, np.where(neurons > 0, per_layer.argmax(0), -1)


def histogram_rgba(neurons: np.ndarray, dominant: np.ndarray) -> np.ndarray:
    """(rows, cols) uint32 RGBA image: each bin in the color of its dominant layer, opacity
    growing with the log of its neuron count (empty bins transparent)."""
    rgb = np.array([[int(layer_color(l)[i:i + 2], 16) for i in (1, 3, 5)]
                    for l in range(max(int(dominant.max()) + 1, 1))], dtype=np.uint8)
    img = np.zeros((*neurons.shape, 4), dtype=np.uint8)
    full = neurons > 0
    img[full, :3] = rgb[dominant[full]]
    top = np.log1p(max(int(neurons.max()), 1))
    img[full, 3] = (90 + 165 * np.log1p(neurons[full]) / top).astype(np.uint8)
    return img.view(np.uint32)[..., 0]


class ActivityView(View):
    """Rates, saturation/silence, lambdas and ANN activation vs SNN rate for each layer."""

    help = ("Left: mean firing rate of each layer over the first t steps (Hz; 1000 Hz = one "
            "spike per 1 ms step, the most an IF neuron fires). Middle: share of neurons that "
            "fired at every step (saturated: the ANN value exceeds lambda and is clipped) and "
            "that never fired (silent). Right: each neuron's normalized ANN activation vs its "
            "SNN rate in spikes per step (a dot per neuron; above 5,000 neurons a 2-D "
            "histogram: each cell colored by the layer most of its neurons belong to, darker "
            "= more neurons, hover for the count); on the diagonal the conversion is exact. "
            "The table lists lambda_l (the normalization factor from the percentile) and the "
            "correlation r.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        s = self.session
        self.graph = NetworkGraphView(s)
        self.spatial = SpatialView(s)
        self._build_bars()
        self._build_errors()
        self.table = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.ttfs = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.suggestion = pn.pane.Alert("", alert_type="info", sizing_mode="stretch_width")
        self._build_scatter()
        self._key = None
        self._on_frame(self._update)
        self._update({"version"})

    @param.depends("on_screen", watch=True)
    def _show_parts(self) -> None:
        self.graph.on_screen = self.spatial.on_screen = self.on_screen

    # ------------------------------------------------------------------ frame update
    def _update(self, changed: set[str]) -> None:
        s = self.session
        if s.recording is None:
            return
        t = s.t
        if "version" in changed:
            self._new_run()
            self._update_errors()
            self.ttfs.object = ttfs_table(s)
        if changed & {"t", "version"}:
            self.table.object = activity_table(s, t)
            self.suggestion.object = self._suggest(t)
            self._update_bars(t, "version" in changed)
            self._update_scatter(t)

    def _suggest(self, t):
        return "**Suggested percentile:** " + self.session.suggestion(t)

    # ------------------------------------------------------------------ the bars
    def _build_bars(self) -> None:
        """Rates and saturated/silent shares: one bar per layer, heights updated in place."""
        def bars(title, ylabel):
            fig = figure(title=title, height=240, x_range=FactorRange(), y_range=Range1d(0, 1),
                         sizing_mode="stretch_width", toolbar_location=None,
                         y_axis_label=ylabel, min_border_left=50)
            fig.xaxis.major_label_orientation = 0.6
            fig.xgrid.visible = False
            return fig

        self.bars = ColumnDataSource({k: [] for k in ("layer", "rate", "color", "saturated",
                                                      "silent", "top")})
        self.rates = bars("Mean firing rate", "rate (Hz)")
        r = self.rates.vbar(x="layer", top="rate", width=0.8, color="color", source=self.bars)
        self.rates.add_tools(HoverTool(renderers=[r], tooltips=[("layer", "@layer"),
                                                                ("rate", "@rate{0.0} Hz")]))
        self.shares = bars("Saturated (red) / silent (gray) neurons", "neurons (%)")
        self.shares.y_range.end = 100
        sat = self.shares.vbar(x="layer", top="saturated", width=0.8, color="#d62728",
                               source=self.bars, legend_label="saturated")
        sil = self.shares.vbar(x="layer", bottom="saturated", top="top", width=0.8,
                               color="#7f7f7f", source=self.bars, legend_label="silent")
        self.shares.add_tools(HoverTool(renderers=[sat, sil], tooltips=[
            ("layer", "@layer"), ("saturated", "@saturated{0.0}%"), ("silent", "@silent{0.0}%")]))
        self.shares.legend.location = "top_left"
        self.shares.legend.label_text_font_size = "10px"

    def _update_bars(self, t: int, new_run: bool) -> None:
        act = self.session.activity(t)
        rate = [a["rate_hz"] for a in act]
        sat = [100 * a["saturated"] for a in act]
        sil = [100 * a["silent"] for a in act]
        if new_run:
            names = [a["layer"] for a in act]
            for fig in (self.rates, self.shares):
                fig.x_range.factors = names
            self.bars.data = {"layer": names, "rate": rate, "saturated": sat, "silent": sil,
                              "top": [a + b for a, b in zip(sat, sil)],
                              "color": [layer_color(l) for l in range(len(names))]}
        else:
            self.bars.data.update(rate=rate, saturated=sat, silent=sil,
                                  top=[a + b for a, b in zip(sat, sil)])
        self.rates.y_range.end = max(rate + [1.0]) * 1.15

    # ------------------------------------------------------------------ the layer errors
    def _build_errors(self) -> None:
        """:func:`layer_errors` over time, one line per layer: computed once per run."""
        self.errors = live_figure("Rate error per layer vs ANN", 240, 1.0, (0, 1),
                                  ylabel="mean |rate - ANN|",
                                  tooltips=[("layer", "@name"), ("time", "$x{0} ms"),
                                            ("error", "$y{0.000}")])
        self.error_lines = ColumnDataSource({"xs": [], "ys": [], "name": [], "color": []})
        self.errors.multi_line("xs", "ys", source=self.error_lines, color="color",
                               line_width=2, legend_field="name")
        self.errors.legend.location = "top_right"
        self.errors.legend.label_text_font_size = "10px"

    def _update_errors(self) -> None:
        s = self.session
        err = layer_errors(s)
        t_ms = np.arange(1, len(err) + 1) * s.dt_ms
        self.error_lines.data = {"xs": [t_ms] * err.shape[1], "ys": list(err.T),
                                 "name": list(s.layer_names),
                                 "color": [layer_color(l) for l in range(err.shape[1])]}
        self.errors.x_range.update(start=0, end=float(t_ms[-1]) if len(t_ms) else 1.0)
        self.errors.y_range.update(start=0, end=max(float(err.max()), 1e-3) * 1.05)

    # ------------------------------------------------------------------ the scatter
    def _build_scatter(self) -> None:
        """One figure, built once: dots (small networks) or a histogram image (large)."""
        self.scatter = live_figure("ANN activation vs SNN rate", 240, 1.0, (0, RATE_TOP),
                                   xlabel="ANN activation", ylabel="SNN rate (spikes/step)")
        self.scatter.min_border_left = 50
        self.points = ColumnDataSource({"x": np.zeros(0), "y": np.zeros(0),
                                        "color": np.zeros(0, dtype=object),
                                        "layer": np.zeros(0, dtype=object)})
        dots = self.scatter.scatter("x", "y", source=self.points, color="color", size=3,
                                    alpha=0.5, line_color=None)
        self.hist = ColumnDataSource({"image": [], "neurons": [], "x": [], "y": [], "dw": [],
                                      "dh": []})
        image = self.scatter.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh",
                                        source=self.hist)
        self.scatter.add_tools(
            HoverTool(renderers=[dots], tooltips=[("layer", "@layer"), ("ANN", "@x{0.000}"),
                                                  ("SNN", "@y{0.000}")]),
            HoverTool(renderers=[image], tooltips=[("neurons", "@neurons"),
                                                   ("ANN", "$x{0.00}"), ("SNN", "$y{0.00}")]))
        self.diagonal = ColumnDataSource({"x": [0.0, 1.0], "y": [0.0, 1.0]})
        self.scatter.line("x", "y", source=self.diagonal, color="gray", line_dash="dashed")
        self.legend = compact_legend([])
        self.scatter.add_layout(self.legend, "right")
        self._dots, self._image = dots, image

    def _new_run(self) -> None:
        """Per recording: the ANN side of the scatter and, per structure, its mode."""
        s = self.session
        self._ann = np.concatenate([a.cpu().numpy() for a in s.ann_rates]).astype(np.float64)
        self._layer = np.concatenate([np.full(len(a), l) for l, a in enumerate(s.ann_rates)])
        self._top = max(float(self._ann.max()) if len(self._ann) else 1.0, 1.0) * 1.05
        key = (tuple(s.layer_names), len(self._ann))
        self.aggregated = len(self._ann) > SCATTER_POINTS
        self._dots.visible = not self.aggregated
        self._image.visible = self.aggregated
        self.scatter.x_range.update(start=0, end=self._top)
        self.diagonal.data = {"x": [0.0, self._top], "y": [0.0, self._top]}
        if key != self._key:
            self._key = key
            old = {r for item in self.legend.items for r in item.renderers}
            self.scatter.renderers = [r for r in self.scatter.renderers if r not in old]
            self.legend.items = [LegendItem(label=n, renderers=[legend_proxy(
                self.scatter, layer_color(l))]) for l, n in enumerate(s.layer_names)]
            if self.aggregated:
                self.points.data = {k: v[:0] for k, v in self.points.data.items()}
        if not self.aggregated:
            names = np.array(s.layer_names, dtype=object)
            colors = np.array([layer_color(l) for l in range(len(names))], dtype=object)
            self.points.data = {"x": self._ann, "y": np.zeros(len(self._ann)),
                                "color": colors[self._layer], "layer": names[self._layer]}

    def _rates_per_step(self, t: int) -> np.ndarray:
        counts = self.session.counts_at(t)
        return np.concatenate(counts).astype(np.float64) / max(t, 1) if counts else \
            np.zeros(0)

    def _update_scatter(self, t: int) -> None:
        y = self._rates_per_step(t)
        if not self.aggregated:
            self.points.data.update(y=y)  # only the rates travel
            return
        neurons, dominant = scatter_histogram(self._ann, y, self._layer,
                                              len(self.session.layer_names), self._top)
        self.hist.data = {"image": [histogram_rgba(neurons, dominant)],
                          "neurons": [neurons.astype(np.int32)], "x": [0.0], "y": [0.0],
                          "dw": [self._top], "dh": [RATE_TOP]}

    def __panel__(self):
        plots = pn.Row(bokeh_pane(self.rates), bokeh_pane(self.shares),
                       bokeh_pane(self.scatter), sizing_mode="stretch_width")
        return pn.Column(self.suggestion, plots, self.table, self.ttfs, help_text(self.help),
                         bokeh_pane(self.errors), self.graph, self.spatial,
                         sizing_mode="stretch_width")
