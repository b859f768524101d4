"""Class evidence over time: cumulative output spikes per class, with the ANN's answer."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .base import View, help_text, hv_pane


class EvidenceView(View):
    """Output spike count of every class after each step, the ANN's answer for reference."""

    help = ("Cumulative output spikes per class (one line per class). The SNN's answer at "
            "time t is the class with most spikes; the title compares it with the ANN's "
            "answer and the true label. Hover a line for its class.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self.plot = hv.DynamicMap(self._bind(self._plot))

    def answer(self, t: int) -> str:
        """One line: true label, ANN answer, SNN answer after t steps."""
        s = self.session
        ann = int(s.ann_output.argmax())
        if t <= 0:
            snn = "no spikes yet"
        else:
            counts = s.recording.output_counts[t - 1, 0]
            snn = str(int(counts.argmax())) if int(counts.max()) > 0 else "no spikes yet"
        return f"label {s.label} · ANN says {ann} · SNN says {snn} at t = {t * s.dt_ms:g} ms"

    def _plot(self, t, version):
        s = self.session
        rec = s.recording
        C = rec.output_counts.shape[2]
        time = np.arange(0, t + 1) * s.dt_ms
        counts = np.zeros((t + 1, C))
        if t > 0:
            counts[1:] = rec.output_counts[:t, 0].cpu().numpy()
        ann = int(s.ann_output.argmax())
        curves = {c: hv.Curve((time, counts[:, c], np.full(t + 1, c)), "time",
                              ["spikes", "class"]).opts(
            line_width=4 if c == ann else 1.5, tools=["hover"]) for c in range(C)}
        ymax = max(float(rec.output_counts[-1, 0].max()), 1.0)
        return hv.NdOverlay(curves, kdims=["class"]).opts(
            title=self.answer(t), xlabel="time (ms)", ylabel="output spikes (cumulative)",
            xlim=(0, s.timesteps * s.dt_ms), ylim=(0, ymax * 1.05), responsive=True,
            height=260, legend_position="left", framewise=True)

    def __panel__(self):
        return pn.Column(hv_pane(self.plot, sizing_mode="stretch_width"),
                         help_text(self.help), sizing_mode="stretch_width")
