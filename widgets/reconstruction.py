"""The input, the network's view of it (decoded from the input so far), and reconstructions."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Greys256
from bokeh.plotting import figure

from .base import View, bokeh_pane, help_text


class _ImagePlot:
    """A fixed-size gray image whose pixels (and title) are replaced in place."""

    def __init__(self):
        self.mapper = LinearColorMapper(palette=Greys256, low=0, high=1, nan_color="white")
        self.source = ColumnDataSource({"image": [np.zeros((1, 1))], "dw": [1], "dh": [1]})
        self.fig = figure(width=200, height=200, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                          toolbar_location=None, tools="", min_border=2)
        self.fig.image(image="image", x=0, y=0, dw="dw", dh="dh", source=self.source,
                       color_mapper=self.mapper)
        self.fig.add_tools(HoverTool(tooltips=[("value", "@image{0.000}")]))
        self.fig.axis.visible = False
        self.fig.grid.visible = False
        self.fig.title.text_font_size = "11px"

    def show(self, img: np.ndarray, title: str, vmax: float | None = None) -> None:
        h, w = img.shape
        vmax = float(np.nanmax(img)) if vmax is None else vmax
        if (self.fig.x_range.end, self.fig.y_range.end) != (w, h):
            self.fig.x_range.end, self.fig.y_range.end = w, h
        self.mapper.high = max(vmax, 1e-9)
        # row 0 of a Bokeh image is drawn at the bottom: flip so the picture stands upright
        self.source.data = {"image": [np.flipud(img).astype(np.float32)], "dw": [w], "dh": [h]}
        if self.fig.title.text != title:
            self.fig.title.text = title


class InputView(View):
    """Input image, its decoding from the encoded input so far, and (if any) the reconstruction.

    Three fixed figures; a cursor move replaces only the pixels of the two time-dependent ones.
    """

    help = ("Left: the sample. Middle: what the network has received so far, the input "
            "averaged over the first t steps (for Poisson input, spike counts / t); it sharpens "
            "as t grows. Right (models whose output is an image): the reconstruction as it "
            "forms, with its mean squared error and structural similarity (SSIM) against the "
            "input beside the ANN's.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self.raw, self.decoded, self.output = _ImagePlot(), _ImagePlot(), _ImagePlot()
        self.errors = pn.pane.Markdown("", margin=(0, 10), visible=False)
        self._on_frame(self._update)
        self._update({"version"})

    def _update(self, changed):
        s = self.session
        if "version" in changed:
            self.raw.show(s.input_image(), f"input (label {s.label})", 1.0)
        if changed & {"version", "t"}:
            t = s.t
            # titles without t: a new title re-lays out the figure in the browser every frame
            self.decoded.show(s.decoded_input(t), "decoded so far", 1.0)
            rec = s.reconstruction(t)
            if rec is None:
                # NaN pixels are transparent: an empty panel, not a black picture
                self.output.show(np.full_like(s.input_image(), np.nan), "(no image output)",
                                 1.0)
            else:
                self.output.show(rec, "output so far")
            err = s.reconstruction_errors(t)
            self.errors.visible = err is not None
            if err is not None:
                self.errors.object = (
                    f"**SNN at t = {max(t, 1)}:** MSE {err['snn_mse']:.4f}, SSIM "
                    f"{err['snn_ssim']:.3f} &nbsp; **ANN:** MSE {err['ann_mse']:.4f}, SSIM "
                    f"{err['ann_ssim']:.3f}")

    def __panel__(self):
        return pn.Column(pn.Row(*[bokeh_pane(p.fig, sizing_mode="fixed")
                                  for p in (self.raw, self.decoded, self.output)]),
                         self.errors, help_text(self.help), sizing_mode="stretch_width")
