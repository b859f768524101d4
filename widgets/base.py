"""Shared pieces of the views: the base Viewer class, colors, and the help text card."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import panel as pn
import param

from .session import Session

# registers the option builders (hv.opts.Points, ...) without notebook output
hv.Store.set_current_backend("bokeh")

#: One color per layer (Category10), cycling for deep networks.
LAYER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]


def layer_color(l: int) -> str:
    return LAYER_COLORS[l % len(LAYER_COLORS)]


def help_text(text: str) -> pn.pane.Markdown:
    """The short "what am I seeing" note shown under a plot."""
    return pn.pane.Markdown(f"**What am I seeing?** {text}", styles={"font-size": "12px",
                            "color": "#444"}, margin=(0, 10), sizing_mode="stretch_width")


class View(pn.viewable.Viewer):
    """A view draws one aspect of a :class:`Session` and takes nothing else."""

    session = param.ClassSelector(class_=Session, doc="The session this view draws.")

    help = ""  # the "what am I seeing" text

    def __init__(self, session: Session | None = None, **params):
        super().__init__(session=session if session is not None else Session(), **params)

    def _bind(self, fn):
        """``fn(t, version)`` bound to the session's cursor and recording version."""
        return pn.bind(fn, t=self.session.param.t, version=self.session.param.version)


def hv_pane(obj, **kwargs) -> pn.pane.HoloViews:
    """A HoloViews pane whose axes are not linked to other panes' (each plot owns its ranges)."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HoloViews(obj, linked_axes=False, **kwargs)
