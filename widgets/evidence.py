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
        s = self.session
        self.plot = hv.DynamicMap(self._bind(self._plot)).opts(
            hv.opts.Curve(line_width=2, tools=["hover"]), hv.opts.NdOverlay(
                legend_position="right", xlabel="time (ms)",
                ylabel="output spikes (cumulative)", responsive=True, height=260,
                title="{label}"))
        s.param.watch(self._limits, "version")
        self._limits()

    def _limits(self, *_):
        s = self.session
        self.plot.opts(hv.opts.NdOverlay(xlim=(0, s.timesteps * s.dt_ms), ylim=self._ylim()))

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
        curves = {c: hv.Curve((time, counts[:, c]), "time", "spikes") for c in range(C)}
        return hv.NdOverlay(curves, kdims=["class"], label=self.answer(t))

    def _ylim(self):
        return (0, max(float(self.session.recording.output_counts[-1, 0].max()), 1.0) * 1.05)

    def __panel__(self):
        return pn.Column(hv_pane(self.plot, sizing_mode="stretch_width"),
                         help_text(self.help), sizing_mode="stretch_width")
