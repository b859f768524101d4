"""Spatial view of a convolutional layer: one small spike-count map per channel, up to the
time cursor (issue 19), so the features a layer responds to can be seen, not only its
flattened raster rows."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from .base import View, help_text, hv_pane

MAX_CHANNELS = 16
"""Channels drawn at most (the first ones; the layer menu says how many there are)."""


def channel_maps(session, layer: int, t: int) -> np.ndarray:
    """(C, H, W) spikes per neuron of ``layer`` in the first ``t`` steps (sample 0)."""
    shape = tuple(session.net.stages[layer].out_shape)
    if len(shape) != 3:
        raise ValueError(f"layer {session.layer_names[layer]} is not convolutional "
                         f"(shape {shape})")
    return session.counts_at(t)[layer].reshape(shape)


def spatial_plot(session, layer: int, t: int) -> hv.Layout:
    """A grid of per-channel count images (hover: channel, x, y, spikes)."""
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
    """Per-channel spike-count maps of one convolutional layer up to the cursor."""

    layer = param.Selector(default=None, objects=[], doc="Convolutional layer to show.")

    help = ("One map per channel of the chosen convolutional layer: each pixel is a neuron, "
            "its shade the spikes it fired up to the time cursor (same scale for all "
            "channels; hover for the count). At most 16 channels are drawn.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._layers()
        self.session.param.watch(lambda *_: self._layers(), "version")
        self.select = pn.widgets.Select.from_param(self.param.layer, name="Layer", width=220)
        # redrawn on this stream's events: once per shown frame (View._on_frame) or layer
        self._stream = hv.streams.Stream.define("Frame", layer=self.layer, t=self.session.t,
                                               version=self.session.version)()
        self.plot = hv.DynamicMap(self._plot, streams=[self._stream])
        self._on_frame(lambda changed: self._redraw())

    @param.depends("layer", watch=True)
    def _redraw(self) -> None:
        if self.on_screen and hasattr(self, "_stream"):  # (not while __init__ picks a layer)
            s = self.session
            self._stream.event(layer=self.layer, t=s.t, version=s.version)

    def _layers(self) -> None:
        s = self.session
        convs = {f"{n} ({s.net.stages[l].out_shape[0]} channels)": n
                 for l, n in enumerate(s.layer_names) if len(s.net.stages[l].out_shape) == 3}
        self.param.layer.objects = list(convs.values())
        self.param.layer.names = convs
        if self.layer not in convs.values():
            self.layer = next(iter(convs.values()), None)

    def _plot(self, layer, t, version):
        s = self.session
        if layer is None:
            return hv.Layout([hv.Text(0, 0, "no convolutional layer")])
        return spatial_plot(s, s.layer_names.index(layer), t)

    def __panel__(self):
        return pn.Column(self.select, hv_pane(self.plot), help_text(self.help),
                         sizing_mode="stretch_width")
