"""Membrane traces of chosen neurons with the threshold line and spike marks."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, LegendItem, Span

from .base import (
    LAYER_COLORS,
    View,
    bokeh_pane,
    compact_legend,
    cursor_line,
    help_text,
    legend_proxy,
    live_figure,
)


def trace_data(session, t: int) -> tuple[list[dict], list[tuple]]:
    """Paths (one dict per traced neuron) and spike marks (time ms, V, neuron) up to t."""
    rec = session.recording
    paths, marks = [], []
    if rec is None or rec.membrane is None:
        return paths, marks
    t = max(t, 0)
    time = np.arange(0, t + 1) * session.dt_ms  # V = 0 at rest before the first step
    thr = session.net.params.threshold
    for k, (l, i) in enumerate(session.traces):
        membrane = session.membrane_of(l, i)  # recorded or replayed
        if membrane is None:
            continue
        label = f"{rec.layer_names[l]} #{i}"
        v = np.concatenate([[0.0], membrane[:t]])
        paths.append({"time": time, "V": v, "neuron": label,
                      "trace": k % len(LAYER_COLORS)})
        sp = np.flatnonzero(rec.spike_trains[l][:t, 0, i].cpu().numpy())
        marks += [(time[j + 1], thr, label) for j in sp]
    return paths, marks


class MembraneView(View):
    """Membrane potential V(t) of the traced neurons, the threshold, and their spikes.

    The figure is built once; the traces of the whole run are computed once per recording and
    trace choice, and moving the cursor streams only the new samples to the browser.
    """

    help = ("Membrane potential V of the traced neurons after each step (after reset); the red "
            "dashed line is the threshold, triangles mark spikes. With reset by subtraction V "
            "drops by the threshold at a spike. Click a raster to add a neuron, or pick one by "
            "rate below.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._layer = pn.widgets.Select(label="Layer", width=140)
        self._by_rate = pn.widgets.Button(label="Add most active", width=130)
        self._median = pn.widgets.Button(label="Add median-rate", width=130)
        self._clear = pn.widgets.Button(label="Clear traces", width=110)
        self._by_rate.on_click(lambda e: self._add("max"))
        self._median.on_click(lambda e: self._add("median"))
        self._clear.on_click(lambda e: setattr(self.session, "traces", []))
        self.session.param.watch(self._layers, "version")
        self._layers()
        self._build()
        self._on_frame(self._update)
        self._update({"version"})

    def _build(self):
        s = self.session
        k = s.max_traces
        self.fig = live_figure("Membrane potential", 260, s.timesteps * s.dt_ms, (-0.1, 1.1),
                               ylabel="V (threshold units)",
                               tooltips=[("neuron", "$name"), ("time", "$x{0.0} ms"),
                                         ("V", "$y{0.000}")])
        self.cols = [f"v{j}" for j in range(k)]
        self.source = ColumnDataSource({c: np.zeros(0) for c in ["time", *self.cols]})
        self.lines = [self.fig.line("time", c, source=self.source, line_width=2,
                                    color=LAYER_COLORS[j % len(LAYER_COLORS)], name=c)
                      for j, c in enumerate(self.cols)]
        self.marks = ColumnDataSource({"time": np.zeros(0), "V": np.zeros(0),
                                       "neuron": np.zeros(0, dtype=object),
                                       "color": np.zeros(0, dtype=object)})
        # each spike mark in its trace's color (black marks did not say whose spike it was)
        self.fig.scatter("time", "V", source=self.marks, marker="triangle", size=9,
                         color="color", line_color="black", line_width=0.5, name="spike")
        self.threshold = Span(location=1.0, dimension="width", line_color="red",
                              line_dash="dashed", line_width=1)
        self.fig.add_layout(self.threshold)
        self.cursor = cursor_line(self.fig)
        self.items = [LegendItem(label=c, visible=False, renderers=[legend_proxy(
            self.fig, LAYER_COLORS[j % len(LAYER_COLORS)])]) for j, c in enumerate(self.cols)]
        self.fig.add_layout(compact_legend(self.items), "right")
        self.shown = 0
        self._full = None

    def _layers(self, *_):
        names = self.session.layer_names
        self._layer.options = {n: i for i, n in enumerate(names)}
        if self._layer.value not in range(len(names)):
            self._layer.value = max(len(names) - 2, 0)

    def _add(self, which):
        if self._layer.value is not None:
            self.session.trace_by_rate(self._layer.value, which)

    def _precompute(self):
        """Traces over the whole run: rows 0..T (V = 0 at rest before the first step)."""
        s = self.session
        T = s.timesteps
        paths, marks = trace_data(s, T)
        paths = paths[: len(self.cols)]
        full = {"time": np.arange(T + 1) * s.dt_ms}
        for j, c in enumerate(self.cols):
            full[c] = paths[j]["V"] if j < len(paths) else np.full(T + 1, np.nan)
        thr = s.net.params.threshold
        mt = np.array([m[0] for m in marks], dtype=float)
        order = np.argsort(mt, kind="stable")
        color = {p["neuron"]: LAYER_COLORS[j % len(LAYER_COLORS)] for j, p in enumerate(paths)}
        neurons = np.array([m[2] for m in marks], dtype=object)[order]
        self._marks = {"time": mt[order], "V": np.full(len(mt), float(thr)),
                       "neuron": neurons,
                       "color": np.array([color.get(n, "black") for n in neurons], dtype=object)}
        self._mark_steps = np.rint(self._marks["time"] / s.dt_ms).astype(int)
        self._full = full
        names = [p["neuron"] for p in paths]
        for j, (item, line) in enumerate(zip(self.items, self.lines)):
            on = j < len(paths)
            item.visible = line.visible = on
            if on:
                item.label = value(names[j])
                line.name = names[j]
        vals = [p["V"] for p in paths]
        lo = min([float(v.min()) for v in vals] + [0.0])
        hi = max([float(v.max()) for v in vals] + [thr * 1.1])
        pad = 0.05 * (hi - lo)
        self.fig.y_range.update(start=lo - pad, end=hi + pad)
        self.fig.x_range.update(start=0, end=T * s.dt_ms)
        self.threshold.location = float(thr)
        self.fig.title.text = "Membrane potential: " + (", ".join(names) or "no neuron traced")

    def _rows(self, a: int, b: int) -> dict:
        """Rows a..b-1 of the traces (row i is time i*dt)."""
        return {c: v[a:b] for c, v in self._full.items()}

    def _marks_of(self, t0: int, t1: int) -> dict:
        """Spike marks of steps t0+1..t1 (a spike in step j shows at time j*dt)."""
        a, b = np.searchsorted(self._mark_steps, [t0 + 1, t1 + 1])
        return {c: v[a:b] for c, v in self._marks.items()}

    def _update(self, changed):
        s = self.session
        if s.recording is None:
            return
        t = s.t
        if "version" in changed or "traces" in changed or self._full is None:
            self._precompute()
            self.source.data = self._rows(0, t + 1)
            self.marks.data = self._marks_of(0, t)
        elif t > self.shown:
            self.source.stream(self._rows(self.shown + 1, t + 1))
            new = self._marks_of(self.shown, t)
            if len(new["time"]):
                self.marks.stream(new)
        elif t < self.shown:
            self.source.data = self._rows(0, t + 1)
            self.marks.data = self._marks_of(0, t)
        self.shown = t
        self.cursor.location = t * s.dt_ms

    def __panel__(self):
        return pn.Column(bokeh_pane(self.fig),
                         pn.Row(self._layer, self._by_rate, self._median, self._clear),
                         help_text(self.help), sizing_mode="stretch_width")
