"""Membrane traces of chosen neurons with the threshold line and spike marks."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .base import LAYER_COLORS, View, help_text, hv_pane


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
        if l >= len(rec.membrane):
            continue
        idx = rec.membrane_neurons[l]
        pos = (idx == i).nonzero()
        if len(pos) == 0:
            continue
        label = f"{rec.layer_names[l]} #{i}"
        v = np.concatenate([[0.0], rec.membrane[l][:t, 0, int(pos[0, 0])].cpu().numpy()])
        paths.append({"time": time, "V": v, "neuron": label,
                      "trace": k % len(LAYER_COLORS)})
        sp = np.flatnonzero(rec.spike_trains[l][:t, 0, i].cpu().numpy())
        marks += [(time[j + 1], thr, label) for j in sp]
    return paths, marks


class MembraneView(View):
    """Membrane potential V(t) of the traced neurons, the threshold, and their spikes."""

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
        self.plot = hv.DynamicMap(pn.bind(self._plot, t=self.session.param.t,
                                          version=self.session.param.version,
                                          traces=self.session.param.traces))

    def _layers(self, *_):
        names = self.session.layer_names
        self._layer.options = {n: i for i, n in enumerate(names)}
        if self._layer.value not in range(len(names)):
            self._layer.value = max(len(names) - 2, 0)

    def _add(self, which):
        if self._layer.value is not None:
            self.session.trace_by_rate(self._layer.value, which)

    def _plot(self, t, version, traces):
        s = self.session
        paths, marks = trace_data(s, t)
        if not paths:  # an empty Path has no glyph to update: draw one resting point
            paths = [{"time": np.zeros(1), "V": np.zeros(1), "neuron": "none", "trace": 0}]
        T_ms = s.timesteps * s.dt_ms
        thr = s.net.params.threshold if s.net else 1.0
        path = hv.Path(paths, kdims=["time", "V"], vdims=["neuron", "trace"]).opts(
            color="trace", cmap=LAYER_COLORS, clim=(-0.5, len(LAYER_COLORS) - 0.5),
            line_width=2, tools=["hover"], colorbar=False)
        spikes = hv.Scatter(marks, kdims=["time"], vdims=["V", "neuron"]).opts(
            marker="triangle", size=9, color="black", tools=["hover"])
        lo = min([float(p["V"].min()) for p in paths if len(p["V"])] + [0.0])
        hi = max([float(p["V"].max()) for p in paths if len(p["V"])] + [thr * 1.1])
        return (path * spikes * hv.HLine(thr).opts(color="red", line_dash="dashed")
                * hv.VLine(t * s.dt_ms).opts(color="black", line_dash="dotted")).opts(
            title="Membrane potential: " + ", ".join(p["neuron"] for p in paths),
            xlabel="time (ms)", ylabel="V (threshold units)", xlim=(0, T_ms),
            ylim=(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)), responsive=True, height=260,
            framewise=True)

    def __panel__(self):
        return pn.Column(hv_pane(self.plot, sizing_mode="stretch_width"),
                         pn.Row(self._layer, self._by_rate, self._median, self._clear),
                         help_text(self.help), sizing_mode="stretch_width")
