"""Spatial view of a convolutional layer: one small spike-count map per channel, up to the
time cursor (issue 19), so the features a layer responds to can be seen, not only its
flattened raster rows."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, LinearColorMapper
from bokeh.plotting import figure

from .base import View, bokeh_pane, help_text, ramp

MAX_CHANNELS = 16
"""Channels drawn at most (the first ones; the layer menu says how many there are)."""
COLUMNS = 8  # maps per row of the mosaic
MAP_PX = 120  # screen pixels per map side


def channel_maps(session, layer: int, t: int) -> np.ndarray:
    """(C, H, W) spikes per neuron of ``layer`` in the first ``t`` steps (sample 0)."""
    shape = tuple(session.net.stages[layer].out_shape)
    if len(shape) != 3:
        raise ValueError(f"layer {session.layer_names[layer]} is not convolutional "
                         f"(shape {shape})")
    return session.counts_at(t)[layer].reshape(shape)


def mosaic(maps: np.ndarray, cols: int = COLUMNS, gap: int = 1) -> dict[str, np.ndarray]:
    """The first :data:`MAX_CHANNELS` maps (C, H, W) as one image, ``cols`` maps a row with
    ``gap`` blank (NaN) pixels between them, channel 0 top left and each map upright, plus
    per pixel its ``channel``, ``x`` and ``y`` (-1 in the gaps), bottom row first (as Bokeh
    draws an image)."""
    C, H, W = maps.shape
    C = min(C, MAX_CHANNELS)
    cols = min(cols, C)
    rows = -(-C // cols)
    shape = (rows * (H + gap) - gap, cols * (W + gap) - gap)
    out = {"image": np.full(shape, np.nan, np.float32), "channel": np.full(shape, -1),
           "x": np.full(shape, -1), "y": np.full(shape, -1)}
    yy, xx = np.mgrid[H - 1:-1:-1, 0:W]  # row 0 of a map is its top: y counts from below
    for c in range(C):
        r0, c0 = (c // cols) * (H + gap), (c % cols) * (W + gap)
        block = (slice(r0, r0 + H), slice(c0, c0 + W))
        out["image"][block] = maps[c]
        out["channel"][block], out["x"][block], out["y"][block] = c, xx, yy
    return {k: np.ascontiguousarray(np.flipud(v)) for k, v in out.items()}


def spatial_plot(session, layer: int, t: int) -> hv.Layout:
    """A grid of per-channel count images (hover: channel, x, y, spikes), as a HoloViews
    layout for notebooks (the dashboard draws :func:`mosaic` in one figure)."""
    maps = channel_maps(session, layer, t)
    C, H, W = maps.shape
    top = max(float(maps.max()), 1.0)
    images = []
    for c in range(min(C, MAX_CHANNELS)):
        img = hv.Image(np.flipud(maps[c]).astype(np.float32), bounds=(0, 0, W, H),
                       kdims=["x", "y"], vdims=["spikes"]).opts(
            title=f"channel {c}", cmap="Blues", clim=(0, top), width=130, height=130,
            xaxis=None, yaxis=None, tools=["hover"], toolbar=None)
        images.append(img)
    return hv.Layout(images).cols(8).opts(shared_axes=False)


class SpatialView(View):
    """Per-channel spike-count maps of one convolutional layer up to the cursor: one image
    (the maps side by side) in one figure, its counts replaced in place on every frame."""

    layer = param.Selector(default=None, objects=[], doc="Convolutional layer to show.")

    help = ("One map per channel of the chosen convolutional layer: each pixel is a neuron, "
            "its shade the spikes it fired up to the time cursor (same scale for all "
            "channels; hover for the channel, position and count). At most 16 channels are "
            "drawn.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._shape = None
        self.pane = bokeh_pane(figure(height=60, toolbar_location=None),
                               sizing_mode="fixed")
        self._layers()
        self.session.param.watch(lambda *_: self._layers(), "version")
        self.select = pn.widgets.Select.from_param(self.param.layer, name="Layer", width=220)
        self._on_frame(lambda changed: self._redraw())
        self._redraw()

    def _layers(self) -> None:
        s = self.session
        convs = {f"{n} ({s.net.stages[l].out_shape[0]} channels)": n
                 for l, n in enumerate(s.layer_names) if len(s.net.stages[l].out_shape) == 3}
        self.param.layer.objects = list(convs.values())
        self.param.layer.names = convs
        if self.layer not in convs.values():
            self.layer = next(iter(convs.values()), None)

    def _figure(self, tiles: dict[str, np.ndarray], channels: int) -> None:
        """A figure sized for this layer's mosaic (built when the layer or its shape
        changes)."""
        h, w = tiles["image"].shape
        width = min(COLUMNS, channels) * MAP_PX
        fig = figure(frame_width=width, frame_height=max(int(width * h / w), 40),
                     x_range=(0, w), y_range=(0, h), toolbar_location=None, tools="hover",
                     tooltips=[("channel", "@channel"), ("x", "@x"), ("y", "@y"),
                               ("spikes", "@image")],
                     title=f"{self.layer}: spikes per neuron up to the cursor")
        fig.axis.visible = fig.grid.visible = False
        self.mapper = LinearColorMapper(palette=ramp("#08519c"), low=0, high=1,
                                        nan_color="rgba(0, 0, 0, 0)")
        self.source = ColumnDataSource({k: [v] for k, v in tiles.items()} |
                                       {"dw": [w], "dh": [h]})
        fig.image(image="image", x=0, y=0, dw="dw", dh="dh", source=self.source,
                  color_mapper=self.mapper)
        self.pane.object = fig

    @param.depends("layer", watch=True)
    def _redraw(self) -> None:
        """The maps up to the cursor (only their counts travel once the figure exists)."""
        if not self.on_screen or not hasattr(self, "pane"):  # hidden, or in __init__
            return
        s = self.session
        if self.layer is not None and self.layer not in s.layer_names:
            return  # a new network's frame before its layer list: that list's change redraws
        if self.layer is None:
            self._shape = None
            self.pane.object = figure(height=60, toolbar_location=None,
                                      title="no convolutional layer")
            return
        maps = channel_maps(s, s.layer_names.index(self.layer), s.t)
        tiles = mosaic(maps)
        key = (self.layer, maps.shape)
        if key != self._shape:
            self._shape = key
            self._figure(tiles, len(maps))
        else:
            self.source.data.update(image=[tiles["image"]])
        self.mapper.high = max(float(maps.max()), 1.0)

    def __panel__(self):
        return pn.Column(self.select, self.pane, help_text(self.help),
                         sizing_mode="stretch_width")
