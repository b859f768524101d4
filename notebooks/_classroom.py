"""One set-up call for every teaching notebook: offline plots and widget progress bars.

``setup()`` loads the Bokeh, HoloViews and Panel JavaScript *inline* (from the installed
packages, not from cdn.bokeh.org / cdn.holoviz.org), so the notebooks and their HTML exports
work in a classroom without internet. It must run before any plot is shown.

Rule for widgets in the notebooks: a widget either drives a function through ``pn.bind`` or,
when it is tied to a parameter (``from_param`` / ``pn.Param``), it sends its value on release
(``throttled=True`` -> ``value_throttled``). Otherwise a drag can leave the kernel and the
plot at an earlier value than the slider shows.

``setup()`` also works around two gaps of Panel 1.9's notebook comms (see the functions' notes):
kernel->browser updates are sent in order while an output is still opening
(``_ordered_push``; without it Run All left a slider or a plot at an older state than the
kernel's), and what the kernel changes in reply to a widget (Bokeh models edited directly, as
the dashboard's live plots are) is sent to the browser (``_push_replies``).
"""
from __future__ import annotations

import os
import sys
from functools import partial


def setup(threads: int | None = None) -> None:
    """Inline Bokeh/HoloViews/Panel resources; optional ``torch.set_num_threads(threads)``."""
    import holoviews as hv
    import panel as pn

    pn.config.inline = True  # Panel's own CSS/JS from the kernel, not from a CDN
    pn.extension(inline=True)
    hv.extension("bokeh", inline=True)
    _local_panel_css()
    _ordered_push()
    _push_replies()
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


# messages computed while an output's comm was still closed, in the order they were made
_QUEUED: dict = {}


def _ordered_push() -> None:
    """Send Panel's kernel->browser updates in the order they were made.

    Panel's ``panel.io.notebook.push`` (1.9) sends each update of a notebook output as a diff
    over the output's comm. The comm opens only once the browser has rendered the output; until
    then each diff is retried on its own 0.1 s timer, and when the comm opens the retries go out
    in timer order, not in the order they were made. In Run All, the cells after a display run
    before the browser has rendered it: notebook 06 stepped ``session.t`` 0 -> 30, the 30
    diffs went out as 30, 5, 1, 2, ... 29 and the slider stayed at 29 (the plots at some other
    step). Here the diffs of a closed comm wait in one queue per comm and leave it in order;
    while a queue is not empty, new diffs join it behind the older ones."""
    import panel.io.notebook as nb

    global _PANEL_PUSH
    if nb.push is _push:
        return
    _PANEL_PUSH = nb.push
    # modules that did `from panel.io.notebook import push` hold their own reference
    for module in list(sys.modules.values()):
        if getattr(module, "push", None) is _PANEL_PUSH:
            module.push = _push


_PANEL_PUSH = None  # Panel's own push: used where there is no event loop to wait on


def _push(doc, comm, binary: bool = True, msg=None) -> None:
    """``panel.io.notebook.push`` that keeps the order of the diffs (see ``_ordered_push``)."""
    import panel.io.notebook as nb

    if msg is None:
        msg = nb.diff(doc, binary=binary)
    if msg is None:
        return
    queue = _QUEUED.get(comm.id)
    if comm._comm and queue is None:
        nb.send(comm, msg)
        return
    if queue is None:
        try:
            _later(partial(_flush, comm))
        except Exception:  # no event loop: Panel's own behaviour (a warning)
            return _PANEL_PUSH(doc, comm, binary, msg=msg)
        queue = _QUEUED[comm.id] = []
    queue.append(msg)


def _later(fn) -> None:
    """Call ``fn`` in 0.1 s on the kernel's event loop."""
    from tornado.ioloop import IOLoop

    IOLoop.current().call_later(0.1, fn)


def _flush(comm) -> None:
    """Send a comm's queued diffs, oldest first, once the comm is open (retry every 0.1 s)."""
    import panel.io.notebook as nb

    if not comm._comm:
        _later(partial(_flush, comm))
        return
    for msg in _QUEUED.pop(comm.id, []):
        nb.send(comm, msg)


def _push_replies() -> None:
    """Send what the kernel changed while it handled a message from the browser.

    A widget moved in the browser reaches the kernel as a comm message. Panel applies it to the
    output's document on hold and then releases the hold (``_on_msg`` in ``panel.viewable``),
    which calls the widget's ``_comm_change``; its ``hold(doc, comm)`` finds no hold, takes one
    and on the way out *drops* what was collected (``_drain_unconnected_events``, meant for
    server documents not yet connected). Panel objects push their own updates, so ``pn.bind``
    views survive; changes that watchers make directly on Bokeh models (the dashboard's live
    figures: glyph data, the time cursor) were lost: in notebook 06 the kernel moved to the
    slider's step and the plots stayed. Here such a change is handled under a hold that ends
    with a push of the document; a Bokeh event (a button click), handled while Panel still holds
    the document, is followed by a push before Panel drops what was held."""
    from panel.reactive import Syncable

    if getattr(Syncable._schedule_change, "_spikescope_push", False):
        return
    schedule_change, process_event = Syncable._schedule_change, Syncable._process_bokeh_event

    def _schedule_change(self, doc, comm):
        if comm is None:  # a server session: Panel's own path
            return schedule_change(self, doc, comm)
        held = doc.callbacks.hold_value
        if not held:
            doc.hold("combine")
        try:
            self._change_event(doc)
        finally:
            if not held:
                _push_doc(doc)
                doc.unhold()  # back to no hold: the release in progress goes on dispatching

    def _process_bokeh_event(self, doc, event):
        try:
            process_event(self, doc, event)
        finally:
            _push_doc(doc)

    _schedule_change._spikescope_push = True
    Syncable._schedule_change = _schedule_change
    Syncable._process_bokeh_event = _process_bokeh_event


def _push_doc(doc) -> None:
    """Push the held changes of ``doc`` over the comm of the output that shows it."""
    import panel.io.notebook as nb
    from panel.io.state import state

    for _, root, vdoc, comm in list(state._views.values()):
        if vdoc is doc and comm is not None and "embedded" not in root.tags:
            nb.push(doc, comm)
            return


def comms_ready() -> bool:
    """True when the browser has all the kernel's state: no update waits to be sent, and every
    shown Panel output with a widget has its comm open (a widget's moves reach the kernel
    through it). Outputs without widgets (a static plot) may never open theirs. Tests wait
    for this after Run All instead of sleeping."""
    from bokeh.models import Widget
    from panel.io.state import state

    if _QUEUED:
        return False
    for _, root, _, comm in list(state._views.values()):
        if comm is not None and not comm._comm and \
                any(isinstance(m, Widget) for m in root.references()):
            return False
    return True
