"""One set-up call for every teaching notebook: offline plots and widget progress bars.

``setup()`` loads the Bokeh, HoloViews and Panel JavaScript *inline* (from the installed
packages, not from cdn.bokeh.org / cdn.holoviz.org), so the notebooks and their HTML exports
work in a classroom without internet. It must run before any plot is shown.

Rule for widgets in the notebooks: a widget either drives a function through ``pn.bind`` or,
when it is tied to a parameter (``from_param`` / ``pn.Param``), it sends its value on release
(``throttled=True`` -> ``value_throttled``). Otherwise a drag can leave the kernel and the
plot at an earlier value than the slider shows.
"""
from __future__ import annotations

import os


def setup(threads: int | None = None) -> None:
    """Inline Bokeh/HoloViews/Panel resources; optional ``torch.set_num_threads(threads)``."""
    import holoviews as hv
    import panel as pn

    pn.config.inline = True  # Panel's own CSS/JS from the kernel, not from a CDN
    pn.extension(inline=True)
    hv.extension("bokeh", inline=True)
    _local_panel_css()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _local_panel_css() -> None:
    """Stylesheets Panel adds on later updates (loading spinner, layouts, theme) point to
    cdn.holoviz.org even with ``inline=True``; send them to the Jupyter server's own copy
    (``/panel_dist/``, served by Panel's Jupyter server extension). The first render of
    each output is still inlined, so HTML exports carry their CSS."""
    from bokeh.models import ImportedStyleSheet
    from panel.io import notebook
    from panel.io.resources import CDN_DIST, LOCAL_DIST

    if getattr(ImportedStyleSheet.__init__, "_spikescope_local", False):
        return
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/") + "/panel_dist/"
    init, replace_inline = ImportedStyleSheet.__init__, notebook.replace_inline_css

    def __init__(self, *args, **kwargs):
        url = kwargs.get("url")
        for dist in (CDN_DIST, LOCAL_DIST):
            if isinstance(url, str) and url.startswith(dist):
                kwargs["url"] = prefix + url[len(dist):]
        init(self, *args, **kwargs)

    def replace_inline_css(stylesheet):
        url = getattr(stylesheet, "url", "")
        if url.startswith(prefix):  # the first render of an output: inline it
            stylesheet = ImportedStyleSheet.__new__(ImportedStyleSheet)
            init(stylesheet, url=CDN_DIST + url[len(prefix):])
        return replace_inline(stylesheet)

    __init__._spikescope_local = True
    ImportedStyleSheet.__init__ = __init__
    notebook.replace_inline_css = replace_inline_css
