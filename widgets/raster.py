"""Raster plots: one per spiking layer, neuron x time, one color per layer.

Sparse layers draw every spike as a square glyph; layers that can hold more spikes than a
browser draws comfortably are drawn as a 2-D histogram image (spikes per step and block of
neighbouring neurons, at most ``MAX_ROWS`` rows). Zoomed in to at most ``MAX_ROWS`` neurons, a
dense layer's image shows those neurons one row each (re-read from the recording: the bytes
stay bounded), and zoomed out the blocks again. Each plot is built once per network
structure; a cursor move sends only the steps between the old and the new cursor (new spikes
are streamed, image columns patched; moving a sparse layer back replaces its spikes). Clicking
a raster adds that neuron's membrane trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import holoviews as hv
import numpy as np
import panel as pn
from bokeh import events
from bokeh.models import ColumnDataSource, LinearColorMapper

from .base import View, bokeh_pane, cursor_line, help_text, layer_color, live_figure, ramp

#: A layer whose n_neurons x T exceeds this is drawn as a 2-D histogram image.
DENSE_CELLS = 40_000
#: A dense layer's image has at most this many rows (blocks of neighbouring neurons).
MAX_ROWS = 256


def spike_points(session, layer: int, t: int) -> np.ndarray:
    """(n, 2) array of (time in ms, neuron index) of ``layer``'s spikes in the first t steps."""
    rec = session.recording
    if rec is None or t <= 0 or layer >= len(rec.spike_trains):
        return np.zeros((0, 2))
    ti, ni = np.nonzero(rec.spike_trains[layer][:t, 0].cpu().numpy())
    return np.column_stack([ti * session.dt_ms, ni]).astype(np.float64)


@dataclass
class _LayerSpikes:
    """One layer's whole recorded run, ready to slice by step."""

    time: np.ndarray  # (S,) spike times (ms), sorted
    neuron: np.ndarray  # (S,) neuron index of each spike
    offsets: np.ndarray  # (T + 1,) spikes of the first t steps are [0, offsets[t])
    image: np.ndarray | None  # (rows, T) spikes per block of `block` neurons and step
    block: int
    train: np.ndarray  # (T, n) the layer's spikes (a view of the recording)


def layer_spikes(session, layer: int, dense: bool) -> _LayerSpikes:
    """Precompute ``layer``'s spikes of all T steps (once per recording)."""
    train = session.recording.spike_trains[layer][:, 0].cpu().numpy()  # (T, n)
    T, n = train.shape
    ti, ni = np.nonzero(train)
    offsets = np.searchsorted(ti, np.arange(T + 1))
    image, block = None, 1
    if dense:
        block = -(-n // MAX_ROWS)
        rows = -(-n // block)
        padded = np.zeros((T, rows * block), dtype=np.float32)
        padded[:, :n] = train
        image = np.ascontiguousarray(padded.reshape(T, rows, block).sum(2).T)
    return _LayerSpikes(time=(ti * session.dt_ms).astype(np.float64),
                        neuron=ni.astype(np.float64), offsets=offsets, image=image, block=block,
                        train=train)


class _LayerPlot:
    """The Bokeh figure of one layer's raster and the data it shows (steps [0, shown))."""

    def __init__(self, session, l: int, name: str, n: int, dense: bool, on_tap):
        s = session
        self.session, self.l, self.n, self.dense = s, l, n, dense
        self.shown = 0
        self.spikes: _LayerSpikes | None = None
        T_ms = s.timesteps * s.dt_ms
        height = int(np.clip(60 + n / 8, 150, 260))
        title = f"{name}: {n} neurons (spikes up to the cursor t)"
        if dense:
            tips = [("time", "$x{0.0} ms"), ("neurons", "$y{0}"), ("spikes", "@image")]
        else:
            tips = [("time", "@time ms"), ("neuron", "@neuron")]
        self.fig = live_figure(title, height, T_ms, (-0.5, n - 0.5), ylabel="neuron",
                               tooltips=tips)
        color = layer_color(l)
        if dense:
            self.mapper = LinearColorMapper(palette=ramp(color), low=0, high=1,
                                            nan_color="rgba(0, 0, 0, 0)")
            self.source = ColumnDataSource(self._empty())
            self.fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.source,
                           color_mapper=self.mapper)
        else:
            self.source = ColumnDataSource(self._empty())
            self.fig.scatter("time", "neuron", source=self.source, marker="square", size=3,
                             color=color, line_color=None)
        self.cursor = cursor_line(self.fig)
        self.fig.on_event(events.Tap, lambda e: on_tap(x=e.x, y=e.y))
        self.rows: tuple[int, int] | None = None  # neurons shown one per row (zoomed in)
        if dense:
            self.fig.on_event(events.RangesUpdate, lambda e: self.zoom(e.y0, e.y1))

    def _empty(self) -> dict:
        if self.dense:
            return {"image": [], "x": [], "y": [], "dw": [], "dh": []}
        return {"time": np.zeros(0), "neuron": np.zeros(0)}

    def _full(self) -> np.ndarray:
        """The whole run's image as shown: blocks of neurons, or single neurons zoomed in."""
        sp = self.spikes
        if self.rows is None:
            return sp.image
        lo, hi = self.rows
        return np.ascontiguousarray(sp.train[:, lo:hi].T, dtype=np.float32)

    def _image(self, t: int) -> dict:
        """The whole run's image with the steps from t on blank (NaN is transparent)."""
        sp, s = self.spikes, self.session
        img = self._full().copy()
        img[:, t:] = np.nan
        lo, rows = (-0.5, img.shape[0] * sp.block) if self.rows is None else \
            (self.rows[0] - 0.5, img.shape[0])
        return {"image": [img], "x": [0.0], "y": [lo], "dw": [s.timesteps * s.dt_ms],
                "dh": [rows]}

    def zoom(self, y0: float | None, y1: float | None) -> None:
        """Show neurons [y0, y1] one row each when at most ``MAX_ROWS`` of them are visible
        (with a margin each side for panning, ``MAX_ROWS`` + 2 rows at most), else the
        blocks again."""
        if self.spikes is None or y0 is None or y1 is None:
            return
        span = y1 - y0
        if span <= MAX_ROWS:
            margin = min(span, MAX_ROWS - span) / 2  # at most MAX_ROWS + 2 rows in all
            lo = int(np.clip(np.floor(y0 - margin), 0, self.n))
            rows = (lo, int(np.clip(np.ceil(y1 + margin) + 1, lo, self.n)))
        else:
            rows = None
        if rows == self.rows or (rows is not None and self.rows is not None
                                 and self.rows[0] <= int(y0) and int(y1) < self.rows[1]):
            return  # what is visible is drawn already
        self.rows = rows
        self.mapper.high = max(float(self._full().max()), 1.0)
        self.source.data = self._image(self.shown)

    def _patch_columns(self, t0: int, t1: int, blank: bool) -> None:
        """Fill (or blank) the image columns of steps [t0, t1) in the browser."""
        block = self._full()[:, t0:t1]
        if blank:
            block = np.full_like(block, np.nan)
        self.source.patch({"image": [((0, slice(None), slice(t0, t1)), block.ravel())]})

    def _rows(self, t0: int, t1: int) -> dict:
        """The spikes of steps [t0, t1)."""
        sp = self.spikes
        a, b = sp.offsets[t0], sp.offsets[t1]
        return {"time": sp.time[a:b], "neuron": sp.neuron[a:b]}

    def new_recording(self, t: int) -> None:
        self.spikes = layer_spikes(self.session, self.l, self.dense)
        if self.dense:
            self.mapper.high = max(float(self._full().max()), 1.0)
            self.source.data = self._image(t)
        else:
            self.source.data = self._rows(0, t)
        self.shown = t
        self.cursor.location = t * self.session.dt_ms

    def move(self, t: int) -> None:
        """Show steps [0, t): send only the steps between the old and the new cursor."""
        if t != self.shown:
            if self.dense:
                lo, hi = sorted((self.shown, t))
                self._patch_columns(lo, hi, blank=t < self.shown)
            elif t > self.shown:
                self.source.stream(self._rows(self.shown, t))
            else:
                self.source.data = self._rows(0, t)
        self.shown = t
        self.cursor.location = t * self.session.dt_ms


class RasterView(View):
    """Spike rasters of every layer up to the cursor t, with the cursor as a vertical line."""

    help = ("Each dot is one spike: time of the step (ms) on x, neuron index (flattened "
            "channel x row x column) on y, one color per layer. Large layers are shaded as a "
            "2-D histogram (darker = more spikes in that step and block of neighbouring "
            "neurons); zoom in (box or wheel zoom) to 256 neurons or fewer to see each "
            "neuron on its own row. Spikes are drawn up to the time cursor t (dotted line). "
            "Click a neuron's row to add its membrane trace.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._key = None
        self._column = pn.Column(sizing_mode="stretch_width")
        self.dense: list[bool] = []
        self.taps: list[hv.streams.Tap] = []
        self.layers: list[_LayerPlot] = []
        self._on_frame(self._update)
        self._update({"version"})

    def _structure(self):
        s = self.session
        return (tuple(s.layer_names), tuple(s.net.n_neurons) if s.net else (), s.timesteps,
                s.dt_ms)

    def _rebuild(self):
        s = self.session
        self.dense, self.taps, self.layers = [], [], []
        for l, name in enumerate(s.layer_names):
            n = s.net.n_neurons[l]
            dense = n * s.timesteps > DENSE_CELLS
            tap = hv.streams.Tap(x=None, y=None)
            tap.add_subscriber(partial(self._on_tap, l, n))
            self.dense.append(dense)
            self.taps.append(tap)
            self.layers.append(_LayerPlot(s, l, name, n, dense, tap.event))
        self._column[:] = [bokeh_pane(p.fig) for p in self.layers]

    def _update(self, changed):
        t = self.session.t
        if "version" in changed:
            key = self._structure()
            if key != self._key:
                self._key = key
                self._rebuild()
            for p in self.layers:
                p.new_recording(t)
        elif "t" in changed:
            for p in self.layers:
                p.move(t)

    def _on_tap(self, layer: int, n: int, x=None, y=None):
        if y is None:
            return
        self.session.add_trace(layer, int(np.clip(round(y), 0, n - 1)))

    def __panel__(self):
        return pn.Column(self._column, help_text(self.help), sizing_mode="stretch_width")
