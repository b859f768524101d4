"""The input, the network's view of it (decoded from the input so far), and reconstructions."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .base import View, help_text, hv_pane


def _image(img: np.ndarray, title: str, vmax: float | None = None) -> hv.Image:
    h, w = img.shape
    vmax = float(img.max()) if vmax is None else vmax
    return hv.Image(np.flipud(img), bounds=(0, 0, w, h), kdims=["column", "row"],
                    vdims=["value"]).opts(title=title, cmap="gray", clim=(0, max(vmax, 1e-9)),
                                          xaxis=None, yaxis=None, tools=["hover"],
                                          width=200, height=200, toolbar=None)


class InputView(View):
    """Input image, its decoding from the encoded input so far, and (if any) the reconstruction."""

    help = ("Left: the sample. Middle: what the network has received so far, the input "
            "averaged over the first t steps (for Poisson input, spike counts / t); it sharpens "
            "as t grows. Right (models whose output is an image): the output spike rate so far, "
            "the reconstruction as it forms.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        raw = hv.DynamicMap(pn.bind(self._raw, version=self.session.param.version))
        self.plots = [raw] + [hv.DynamicMap(self._bind(f)) for f in (self._decoded,
                                                                     self._reconstruction)]

    def _raw(self, version):
        return _image(self.session.input_image(), f"input (label {self.session.label})", 1.0)

    def _decoded(self, t, version):
        s = self.session
        return _image(s.decoded_input(t), f"decoded, t = {t * s.dt_ms:g} ms", 1.0)

    def _reconstruction(self, t, version):
        s = self.session
        rec = s.reconstruction(t)
        if rec is None:
            return _image(np.zeros_like(s.input_image()), "(no image output)", 1.0)
        return _image(rec, f"output, t = {t * s.dt_ms:g} ms")

    def __panel__(self):
        return pn.Column(pn.Row(*[hv_pane(p, sizing_mode="fixed") for p in self.plots]),
                         help_text(self.help), sizing_mode="stretch_width")
