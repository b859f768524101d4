"""The converted network as a graph: a node per spiking layer (its size, lambda and firing
rate so far), an edge per synaptic term, shortcuts and concatenations drawn as the joins
they are (issue 19's network view, for the graphs of :mod:`spikescope.sim.graph`)."""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from spikescope.sim.graph import INPUT

from .base import View, bokeh_pane, help_text


def graph_layout(sources: list[list[tuple[int, ...]]]) -> dict[int, tuple[float, float]]:
    """(x, y) of the input (-1) and of every stage: x = longest path from the input, y
    spreads the stages of one depth around 0. ``sources[l]``: the source tuples of stage
    l's terms."""
    depth = {INPUT: 0}
    for l, terms in enumerate(sources):
        depth[l] = 1 + max(depth[i] for srcs in terms for i in srcs)
    pos = {}
    for d in sorted(set(depth.values())):
        nodes = [n for n in depth if depth[n] == d]
        for k, n in enumerate(sorted(nodes)):
            pos[n] = (float(d), k - (len(nodes) - 1) / 2)
    return pos


def graph_data(net, rates: np.ndarray | None = None) -> tuple[dict, dict, dict]:
    """Column data for the nodes, the main edges and the join edges (shortcuts, extra
    branches) of ``net``'s graph (rates: spikes per neuron and step so far, per stage)."""
    stages = net.stages
    pos = graph_layout([[t.sources for t in s.terms()] for s in stages])
    rates = np.zeros(len(stages)) if rates is None else np.asarray(rates, dtype=float)
    names = ["input", *net.layer_names]
    ids = [INPUT, *range(len(stages))]
    neurons = [int(np.prod(net.input_shape)), *net.n_neurons]
    nodes = {"x": [pos[i][0] for i in ids], "y": [pos[i][1] for i in ids], "name": names,
             "neurons": neurons, "size": [8 + 4 * np.log10(max(n, 1)) for n in neurons],
             "lam": ["-", *(f"{v:.3g}" for v in net.lambdas)],
             "rate": [0.0, *rates.tolist()],
             "kind": ["input", *(("join: " if len(s.terms()) > 1 or len(s.sources) > 1
                                  else "") + s.kind for s in stages)]}
    main, joins = ({"x0": [], "y0": [], "x1": [], "y1": []} for _ in range(2))
    for l, s in enumerate(stages):
        for j, term in enumerate(s.terms()):
            for i in term.sources:
                edges = joins if j else main
                for key, v in zip(("x0", "y0", "x1", "y1"), (*pos[i], *pos[l])):
                    edges[key].append(v)
    return nodes, main, joins


class NetworkGraphView(View):
    """The network's nodes and joins; node color = firing rate up to the cursor."""

    help = ("Each circle is a layer of spiking neurons (size grows with its neuron count), "
            "left to right from the input; lines are synapses, dashed ones the extra inputs of "
            "a join (red: a residual shortcut, or a branch of a concatenation pooled differently). "
            "Color: mean spikes per neuron and step up to the time cursor. Hover a node for "
            "its neurons, lambda (normalization scale) and rate.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self.mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
        self.nodes, self.main, self.joins = (ColumnDataSource() for _ in range(3))
        self.fig = figure(height=260, sizing_mode="stretch_width", toolbar_location=None,
                          tools="", title="Network graph (nodes and joins)")
        self.fig.segment("x0", "y0", "x1", "y1", source=self.main, line_color="#888",
                         line_width=1.5)
        self.fig.segment("x0", "y0", "x1", "y1", source=self.joins, line_color="#d62728",
                         line_dash="dashed", line_width=1.5)
        r = self.fig.scatter("x", "y", size="size", source=self.nodes, line_color="#333",
                             fill_color={"field": "rate", "transform": self.mapper})
        self.fig.text("x", "y", text="name", source=self.nodes, y_offset=-14,
                      text_font_size="9px", text_align="center")
        self.fig.add_tools(HoverTool(renderers=[r], tooltips=[
            ("layer", "@name"), ("kind", "@kind"), ("neurons", "@neurons"),
            ("lambda", "@lam"), ("rate (spikes/step)", "@rate{0.000}")]))
        self.fig.axis.visible = self.fig.grid.visible = False
        self._net = self._key = None
        self.fig.x_range, self.fig.y_range = Range1d(0, 1), Range1d(0, 1)
        self._on_frame(self._update)
        self._update({"version"})

    def rates(self, t: int) -> np.ndarray:
        """Mean spikes per neuron and step of every layer up to step ``t`` (sample 0)."""
        s = self.session
        t = max(int(t), 1)
        per_layer = s.recording.layer_spikes[:t, 0].float().sum(0).cpu().numpy()
        return per_layer / (t * np.asarray(s.net.n_neurons, dtype=float))

    def _update(self, changed):
        s = self.session
        if s.net is not self._net:
            self._net = s.net
            nodes, main, joins = graph_data(s.net, self.rates(s.t))
            key = (nodes["name"], nodes["neurons"], main, joins)
            if key != self._key:  # a new structure: everything (ranges updated, not replaced)
                self._key = key
                self.main.data, self.joins.data, self.nodes.data = main, joins, nodes
                xs, ys = nodes["x"], nodes["y"]
                self.fig.x_range.update(start=min(xs) - 0.5, end=max(xs) + 0.5)
                self.fig.y_range.update(start=min(ys) - 1, end=max(ys) + 1)
            else:  # the same network converted again: its lambdas and rates
                self.nodes.data.update(lam=nodes["lam"], rate=nodes["rate"], kind=nodes["kind"])
        elif changed & {"version", "t"}:
            self.nodes.patch({"rate": [(slice(1, None), self.rates(s.t).tolist())]})
        self.mapper.high = max(0.05, float(max(self.nodes.data["rate"])))

    def __panel__(self):
        return pn.Column(bokeh_pane(self.fig), help_text(self.help),
                         sizing_mode="stretch_width")
