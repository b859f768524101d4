"""Learning-rule lab views: the temporal signal-encoder explorer and the gradient comparison.

``EncoderExplorer`` encodes a 1-D signal with a temporal encoder (Petro et al. 2020, as in
Neko): temporal contrast ("tc"), step-forward ("sf") or moving window ("mw"), and shows the
signal, the signed spikes and the decoded reconstruction x_0 + threshold * cumsum(s), with the
spike count and the reconstruction RMSE. ``gradient_comparison_plot`` draws the per-batch
cosine similarity / relative deviation of a rule's gradient against BPTT
(``spikescope.training.rules.Trainer(...).fit(..., compare_to=BPTT())``).
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import numpy as np
import panel as pn
import param
import torch

from spikescope.codes.signal_encoders import SIGNAL_ENCODERS, encode_signal

hv.Store.set_current_backend("bokeh")

ENCODER_NAMES = {"temporal contrast (tc)": "tc", "step-forward (sf)": "sf",
                 "moving window (mw)": "mw"}
SIGNAL_COLOR, DECODED_COLOR, UP_COLOR, DOWN_COLOR = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"


def default_signal(n: int = 300) -> torch.Tensor:
    """A smooth test signal: sin(t) + 0.3 sin(3t) over one period, (n,) (max step ~0.04)."""
    t = torch.linspace(0, 2 * np.pi, n)
    return torch.sin(t) + 0.3 * torch.sin(3 * t)


class EncoderExplorer(pn.viewable.Viewer):
    """Signal, spikes and reconstruction of one temporal encoder, live under its threshold."""

    encoder = param.Selector(default="sf", objects=list(SIGNAL_ENCODERS),
                             doc='Temporal encoder: "tc" temporal contrast, "sf" step-forward, '
                                 '"mw" moving window.')
    threshold = param.Number(default=0.1, bounds=(0.0, 2.0), softbounds=(0.0, 1.0), step=0.01,
                             doc="Encoder threshold (signal units); for tc the factor k of "
                                 "threshold = mean(dx) + k std(dx).")
    window = param.Integer(default=3, bounds=(1, 50),
                           doc="Moving-window length in samples (mw only).")
    signal = param.Parameter(default=None, doc="The 1-D signal (L,) to encode; None: "
                                               ":func:`default_signal`.")
    spike_count = param.Integer(default=0, constant=True,
                                doc="Number of spikes (+1 and -1) the encoder emitted.")
    rmse = param.Number(default=0.0, constant=True,
                        doc="Root-mean-square error of the reconstruction (signal units).")

    def __init__(self, **params):
        super().__init__(**params)
        if self.signal is None:
            self.signal = default_signal()
        self._update()

    @param.depends("encoder", "threshold", "window", "signal", watch=True)
    def _update(self) -> None:
        x = torch.as_tensor(self.signal, dtype=torch.float32).reshape(-1)
        # sf/mw need a positive threshold; 0 is only meaningful for tc (threshold = |mean dx|)
        thr = self.threshold if self.encoder == "tc" else max(self.threshold, 1e-3)
        res = encode_signal(x, self.encoder, thr, self.window)
        self.result = {"x": x.numpy(), "spikes": res["spikes"][0].numpy(),
                       "decoded": res["decoded"][0].numpy()}
        with param.edit_constant(self):
            self.spike_count, self.rmse = res["spike_count"], res["rmse"]

    @param.depends("spike_count", "rmse", "encoder", "threshold", "window", "signal")
    def plot(self) -> hv.Layout:
        r = self.result
        t = np.arange(len(r["x"]))
        title = (f"{self.encoder}: {self.spike_count} spikes, RMSE {self.rmse:.3f}")
        top = (hv.Curve((t, r["x"]), "sample", "signal", label="signal").opts(
                   color=SIGNAL_COLOR, line_width=2)
               * hv.Curve((t, r["decoded"]), "sample", "signal", label="reconstruction").opts(
                   color=DECODED_COLOR, interpolation="steps-post"))
        top = top.opts(title=title, width=620, height=240, legend_position="bottom_left")
        s = r["spikes"]
        up, down = t[s > 0], t[s < 0]
        spikes = (hv.Spikes((up, np.ones(len(up))), "sample", "spike", label="+1").opts(
                      color=UP_COLOR)
                  * hv.Spikes((down, -np.ones(len(down))), "sample", "spike",
                              label="-1").opts(color=DOWN_COLOR))
        spikes = spikes.opts(hv.opts.Spikes(spike_length=1), hv.opts.Overlay(
            width=620, height=120, ylim=(-1.1, 1.1), show_legend=False, title="spikes"))
        return (top + spikes).cols(1)

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Param(self.param, parameters=["encoder", "threshold", "window"],
                            # throttled: the value is sent on release, so the kernel keeps the
                            # end of a drag (a from_param/pn.Param slider sending every value
                            # fell out of step with the kernel in JupyterLab)
                            widgets={"threshold": {"type": pn.widgets.FloatSlider,
                                                   "throttled": True},
                                     "window": {"type": pn.widgets.IntSlider,
                                                "throttled": True}},
                            show_name=False, width=240)
        stats = pn.pane.Markdown(pn.bind(
            lambda n, e: f"**spikes:** {n}  \n**RMSE:** {e:.4f}",
            self.param.spike_count, self.param.rmse))
        return pn.Row(pn.Column(controls, stats), pn.pane.HoloViews(self.plot))


def gradient_comparison_plot(history: dict[str, list[dict]] | list[dict], *,
                             parameter: str = "w_in", metric: str = "cosine",
                             width: int = 560, height: int = 300) -> hv.Overlay:
    """Per-batch ``metric`` ("cosine", "rel_deviation" or "bias") of ``parameter``'s gradient
    against the reference, one curve per rule.

    ``history`` is a ``Trainer.fit(..., compare_to=BPTT())`` history (one rule) or a dict
    rule name -> history. Rows without the key ``f"{parameter}/{metric}"`` are skipped.
    """
    if not isinstance(history, dict):
        history = {"rule": history}
    key = f"{parameter}/{metric}"
    curves = []
    for name, rows in history.items():
        pts = [(r.get("batch", i), r[key]) for i, r in enumerate(rows) if key in r]
        if not pts:
            raise KeyError(f"no {key!r} in the history of {name!r}: train with "
                           f"compare_to=BPTT() to record the gradient comparison")
        curves.append(hv.Curve(pts, "batch", hv.Dimension(key, label=f"{parameter} {metric}"),
                               label=name))
    return hv.Overlay(curves).opts(hv.opts.Curve(line_width=2, tools=["hover"]),
                                   hv.opts.Overlay(width=width, height=height,
                                                   legend_position="bottom_right",
                                                   title=f"{metric} of {parameter} vs BPTT",
                                                   show_grid=True))
