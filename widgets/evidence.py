"""Class evidence over time: cumulative output spikes per class, with the ANN's answer."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, LegendItem
from bokeh.palettes import Category10, Category20

from .base import (
    View,
    bokeh_pane,
    compact_legend,
    cursor_line,
    help_text,
    legend_proxy,
    live_figure,
)
from .history import class_evidence, membrane_readout
from .ranges import data_limits

#: At most this many classes get a curve (those with the most output spikes).
MAX_CURVES = 20


class EvidenceView(View):
    """Output spike count of every class after each step, the ANN's answer for reference.

    The curves of the whole run are computed once per recording; moving the cursor streams
    only the new points to the browser.
    """

    help = ("Cumulative output spikes per class (one line per class). The SNN's answer at "
            "time t is the class with most spikes; the line above the plot compares it with the "
            "ANN's answer and the true label. Codes read out by the output membrane (pattern: "
            "its output layer does not spike) show the output potential per class instead, "
            "and answer by its largest value. Hover a line for its class.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self._classes = None
        # the answer is a line of text above the plot: changing a Bokeh title re-lays out the
        # whole figure in the browser, every frame
        self.headline = pn.pane.Markdown("", margin=(0, 10, -10, 60),
                                         styles={"font-weight": "bold", "font-size": "13px"})
        self._column = pn.Column(sizing_mode="stretch_width")
        self._on_frame(self._update)
        self._update({"version"})

    def answer(self, t: int, with_time: bool = True) -> str:
        """One line: true label, ANN answer, SNN answer after t steps (the recording's own
        readout: spike counts, or the output membrane for membrane-readout codes)."""
        s = self.session
        ann = int(s.ann_output.argmax())
        pred = int(s.recording.predictions(t - 1)[0]) if t > 0 else -1
        if pred >= 0:
            snn = str(pred)
        elif self.membrane_readout:
            snn = "nothing yet (its output window has not started)"
        else:
            snn = "no spikes yet"
        line = f"label {s.label} · ANN says {ann} · SNN says {snn}"
        return f"{line} at t = {t * s.dt_ms:g} ms" if with_time else line

    @property
    def membrane_readout(self) -> bool:
        """True when the network answers by its output membrane potential (e.g. the pattern
        code: its output layer does not spike), not by output spike counts."""
        return membrane_readout(self.session.recording)

    def _build(self, classes: tuple[int, ...]):
        s = self.session
        self.fig = live_figure("Class evidence", 240, s.timesteps * s.dt_ms, (0, 1),
                               ylabel="output spikes (cumulative)", min_border_right=15,
                               tooltips=[("class", "$name"), ("time", "$x{0.0} ms"),
                                         ("evidence", "$y{0.[00]}")])
        n = len(classes)
        palette = Category10[10] if n <= 10 else Category20[20]
        self.cols = [f"c{c}" for c in classes]
        self.source = ColumnDataSource({c: np.zeros(0) for c in ["time", *self.cols]})
        items = []
        for j, (c, col) in enumerate(zip(classes, self.cols)):
            color = palette[j % len(palette)]
            self.fig.line("time", col, source=self.source, line_width=2, color=color,
                          name=str(c))
            items.append(LegendItem(label=str(c), renderers=[legend_proxy(self.fig, color)]))
        self.fig.add_layout(compact_legend(items, "class"), "right")
        self.cursor = cursor_line(self.fig)
        self._column[:] = [self.headline, bokeh_pane(self.fig)]

    def _update(self, changed):
        s = self.session
        t = s.t
        if "version" in changed:
            counts = class_evidence(s.recording)
            C = counts.shape[1]
            classes = tuple(range(C)) if C <= MAX_CURVES else tuple(
                sorted(np.argsort(-counts[-1], kind="stable")[:MAX_CURVES].tolist()))
            if classes != self._classes:
                self._classes = classes
                self._build(classes)
            self._counts = counts
            self._full = {"time": np.arange(s.timesteps + 1) * s.dt_ms}
            self._full.update({col: counts[:, c] for c, col in zip(classes, self.cols)})
            self.fig.x_range.update(start=0, end=s.timesteps * s.dt_ms)
            lo, hi = (data_limits(counts) if self.membrane_readout else self._ylim())
            self.fig.y_range.update(start=lo, end=hi)
            self.fig.yaxis.axis_label = ("output membrane potential (readout)"
                                         if self.membrane_readout
                                         else "output spikes (cumulative)")
            self.source.data = self._rows(0, t + 1)
        elif "t" in changed:
            if t > self.shown:
                self.source.stream(self._rows(self.shown + 1, t + 1))
            elif t < self.shown:
                self.source.data = self._rows(0, t + 1)
        else:
            return
        self.shown = t
        self.cursor.location = t * s.dt_ms
        text = self.answer(t, with_time=False)
        if self.headline.object != text:  # the SNN's answer changes a few times per run
            self.headline.object = text

    def _rows(self, a: int, b: int) -> dict:
        return {c: v[a:b] for c, v in self._full.items()}

    def _ylim(self):
        return (0, max(float(self.session.recording.output_counts[-1, 0].max()), 1.0) * 1.05)

    def __panel__(self):
        return pn.Column(self._column, help_text(self.help), sizing_mode="stretch_width")
