"""Shared pieces of the views: the base Viewer class, colors, the help text card, and the
per-session frame dispatcher that updates every live plot in one batch."""

from __future__ import annotations

import html
import re
import threading

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import numpy as np
import panel as pn
import param
from bokeh.models import HoverTool, Legend, Range1d, Span
from bokeh.plotting import figure

from .session import Session

# registers the option builders (hv.opts.Points, ...) without notebook output
hv.Store.set_current_backend("bokeh")

#: One color per layer (Category10), cycling for deep networks.
LAYER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def escape_text(text: object) -> str:
    """``text`` (anything user-controlled: URL values, file names, messages quoting input) made
    safe for Panel's HTML, Markdown and Alert panes: HTML escaped, Markdown syntax neutralized,
    so it shows as the same text and nothing in it is rendered or run."""
    return html.escape(_MD_SPECIAL.sub(r"\\\1", str(text)), quote=True)


def layer_color(l: int) -> str:
    return LAYER_COLORS[l % len(LAYER_COLORS)]


def ramp(color: str, n: int = 256) -> list[str]:
    """A palette of ``n`` colors from white to ``color`` (for spike-count images)."""
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    w = np.linspace(0.0, 1.0, n)[:, None]
    mix = np.rint(255 * (1 - w) + rgb * w).astype(int)
    return ["#{:02x}{:02x}{:02x}".format(*c) for c in mix]


def help_text(text: str) -> pn.pane.Markdown:
    """The short "what am I seeing" note shown under a plot."""
    return pn.pane.Markdown(f"**What am I seeing?** {text}", styles={"font-size": "12px",
                            "color": "#444"}, margin=(0, 10), sizing_mode="stretch_width")


class _Frames:
    """Runs every live view's update once per change of a session's cursor, recording or
    traces, all inside one ``pn.io.hold()`` so the browser gets one batch per frame.

    A change made off the document's lock (a widget callback on Panel's thread pool, a click
    on a plot) is moved to the document's next tick: Bokeh models may only change under the
    lock (else "_pending_writes should be non-None"). Changes arriving meanwhile join it.
    """

    def __init__(self, session: Session):
        self.updates: list = []
        self.doc = pn.state.curdoc  # the session's document (None in a notebook or test)
        self._pending: set[str] = set()
        # a change on a worker thread and the flush on the event loop: without the lock a
        # flush between "none pending" and "add to pending" left changes that no flush would
        # ever take, and the session's views stopped updating
        self._lock = threading.Lock()
        session.param.watch(self._run, ["t", "version", "traces"])

    def _run(self, *events):
        changed = {e.name for e in events}
        doc = self.doc
        if doc is not None and doc.session_context is not None and (
                pn.state.curdoc is not doc or not pn.state._unblocked(doc)):
            with self._lock:
                first = not self._pending
                self._pending |= changed
            if first:
                doc.add_next_tick_callback(self._flush)
            return
        self._apply(changed)

    def _flush(self):
        with self._lock:
            changed, self._pending = self._pending, set()
        if changed:
            self._apply(changed)

    def _apply(self, changed: set[str]):
        with pn.io.hold():
            for fn in list(self.updates):
                fn(changed)


class View(pn.viewable.Viewer):
    """A view draws one aspect of a :class:`Session` and takes nothing else."""

    session = param.ClassSelector(class_=Session, doc="The session this view draws.")
    on_screen = param.Boolean(default=True, doc=(
        "Whether the view is on screen. A hidden view does no work on frames (its updates "
        "wait) and catches up, in one update, when shown again; the dashboard sets it from "
        "the open tab."))

    help = ""  # the "what am I seeing" text

    def __init__(self, session: Session | None = None, **params):
        super().__init__(session=session if session is not None else Session(), **params)
        self._waiting: set[str] = set()  # changes that arrived while hidden
        self._frame_fns: list = []

    def _bind(self, fn):
        """``fn(t, version)`` bound to the session's cursor and recording version."""
        return pn.bind(fn, t=self.session.param.t, version=self.session.param.version)

    def _on_frame(self, fn) -> None:
        """Call ``fn(changed)`` (the set of changed names among ``t``, ``version``,
        ``traces``) on every change while the view is :attr:`on_screen`, batched with the other
        live views of the session; while hidden the changes wait for the next show."""
        # the dispatcher lives on the session (not in a module-level table): a closed
        # session, its views and its document form a cycle the garbage collector frees
        frames = getattr(self.session, "_frames", None)
        if frames is None:
            frames = self.session._frames = _Frames(self.session)
        if not self._frame_fns:
            frames.updates.append(self._frame)
        self._frame_fns.append(fn)

    def _frame(self, changed: set[str]) -> None:
        if not self.on_screen:
            self._waiting |= changed
            return
        for fn in self._frame_fns:
            fn(changed)

    @param.depends("on_screen", watch=True)
    def _catch_up(self) -> None:
        if self.on_screen and self._waiting:
            changed, self._waiting = self._waiting, set()
            with pn.io.hold():
                for fn in self._frame_fns:
                    fn(changed)


def hv_pane(obj, **kwargs) -> pn.pane.HoloViews:
    """A HoloViews pane whose axes are not linked to other panes' (each plot owns its ranges)."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HoloViews(obj, linked_axes=False, **kwargs)


def live_figure(title: str, height: int, x_end: float, y_range: tuple[float, float],
                xlabel: str = "time (ms)", ylabel: str = "", tooltips=None, **kwargs):
    """A Bokeh figure whose glyph data the views update in place (no re-render per frame).

    Fixed ranges (the whole run, 0..T ms) keep the axes still while the cursor moves.
    """
    kwargs.setdefault("sizing_mode", "stretch_width")
    fig = figure(title=title, height=height, x_range=Range1d(0, x_end),
                 y_range=Range1d(*y_range), tools="pan,box_zoom,wheel_zoom,reset,save",
                 toolbar_location="right", x_axis_label=xlabel, y_axis_label=ylabel,
                 min_border_left=60, **kwargs)
    if tooltips:
        fig.add_tools(HoverTool(tooltips=tooltips))
    fig.toolbar.logo = None
    fig.grid.grid_line_alpha = 0.4
    return fig


def cursor_line(fig, location: float = 0.0) -> Span:
    """A dotted vertical line at the time cursor."""
    span = Span(location=location, dimension="height", line_color="black",
                line_dash="dotted", line_width=1)
    fig.add_layout(span)
    return span


def legend_proxy(fig, color: str):
    """An empty line of ``color`` for a legend entry.

    A legend entry that points at a line whose data streams is re-drawn by BokehJS on every
    frame (one canvas per entry); an entry pointing at a never-changing proxy is drawn once.
    """
    # one NaN point: BokehJS draws no legend glyph for a renderer without data
    return fig.line(x=[float("nan")], y=[float("nan")], color=color, line_width=2)


def compact_legend(items, title: str | None = None) -> Legend:
    """A small legend that fits beside a 260 px plot."""
    legend = Legend(items=items, label_text_font_size="10px", label_height=12,
                    glyph_height=12, glyph_width=16, spacing=1, padding=4, margin=4,
                    ncols=1 if len(items) <= 12 else 2)
    if title:
        legend.title = title
        legend.title_text_font_size = "10px"
    return legend


def bokeh_pane(fig, **kwargs) -> pn.pane.Bokeh:
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.Bokeh(fig, **kwargs)
