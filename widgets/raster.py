"""Raster plots: one per spiking layer, neuron x time, one color per layer.

Sparse layers draw every spike as a HoloViews ``Points`` glyph; layers that can hold more
spikes than a browser draws comfortably are aggregated by Datashader (``rasterize``) into one
pixel per (step, neuron). Clicking a raster adds that neuron's membrane trace.
"""

from __future__ import annotations

from functools import partial

import holoviews as hv
import numpy as np
import panel as pn
from holoviews.operation.datashader import rasterize

from .base import View, help_text, hv_pane, layer_color

#: A layer whose n_neurons x T exceeds this is drawn with Datashader.
DENSE_CELLS = 40_000


def spike_points(session, layer: int, t: int) -> np.ndarray:
    """(n, 2) array of (time in ms, neuron index) of ``layer``'s spikes in the first t steps."""
    rec = session.recording
    if rec is None or t <= 0 or layer >= len(rec.spike_trains):
        return np.zeros((0, 2))
    ti, ni = np.nonzero(rec.spike_trains[layer][:t, 0].cpu().numpy())
    return np.column_stack([ti * session.dt_ms, ni]).astype(np.float64)


class RasterView(View):
    """Spike rasters of every layer up to the cursor t, with the cursor as a vertical line."""

    help = ("Each dot is one spike: time of the step (ms) on x, neuron index (flattened "
            "channel x row x column) on y, one color per layer. Dense layers are shaded by "
            "Datashader (darker = more spikes). Spikes are drawn up to the time cursor t. Click "
            "a neuron's row to add its membrane trace.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._key = None
        self._column = pn.Column(sizing_mode="stretch_width")
        self.dense: list[bool] = []
        self.session.param.watch(self._rebuild, "version")
        self._rebuild()

    def _structure(self):
        s = self.session
        return (tuple(s.layer_names), tuple(s.net.n_neurons) if s.net else (), s.timesteps)

    def _rebuild(self, *_):
        key = self._structure()
        if key == self._key:
            return
        self._key = key
        s = self.session
        plots, self.dense, self.taps = [], [], []
        for l, name in enumerate(s.layer_names):
            n = s.net.n_neurons[l]
            dense = n * s.timesteps > DENSE_CELLS
            self.dense.append(dense)
            plots.append(hv_pane(self._layer_plot(l, name, n, dense, key),
                                           sizing_mode="stretch_width"))
        self._column[:] = plots

    def _layer_plot(self, l: int, name: str, n: int, dense: bool, key):
        s = self.session
        T_ms = s.timesteps * s.dt_ms
        color = layer_color(l)
        empty = np.zeros((0, 2))

        def points(t, version):
            pts = spike_points(s, l, t) if self._key == key else empty
            return hv.Points(pts, kdims=["time", "neuron"])

        dmap = hv.DynamicMap(self._bind(points))
        height = int(np.clip(60 + n / 8, 150, 260))
        common = dict(title=f"{name}: {n} neurons (spikes up to the cursor t)",
                      xlabel="time (ms)", ylabel="neuron", responsive=True, height=height,
                      xlim=(0, T_ms), ylim=(-0.5, n - 0.5), toolbar="right",
                      tools=["hover", "tap"], framewise=False)
        if dense:
            plot = rasterize(dmap, x_sampling=s.dt_ms, y_sampling=1.0, x_range=(0, T_ms),
                             y_range=(-0.5, n - 0.5), dynamic=True).opts(
                cmap=["#ffffff", color], cnorm="eq_hist", colorbar=False, **common)
        else:
            plot = dmap.opts(color=color, marker="square", size=3, **common)
        tap = hv.streams.Tap(source=plot, x=None, y=None)
        tap.add_subscriber(partial(self._on_tap, l, n))
        self.taps.append(tap)
        return plot

    def _on_tap(self, layer: int, n: int, x=None, y=None):
        if y is None:
            return
        self.session.add_trace(layer, int(np.clip(round(y), 0, n - 1)))

    def __panel__(self):
        return pn.Column(self._column, help_text(self.help), sizing_mode="stretch_width")
