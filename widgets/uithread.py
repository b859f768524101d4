"""Run a worker thread's result on the UI thread: the one way widgets hand changes back."""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
from bokeh.document import Document


def ui_runner(doc: Document | None = None) -> Callable[[Callable[[], object]], None]:
    """A function ``run(fn)`` that runs ``fn`` on the UI thread of ``doc`` (default: the
    current document, so call this on the UI thread, before starting the worker).

    When served, Bokeh models may only change under the document lock: ``fn`` goes to the
    document's next tick. In a notebook or a test (no server session) ``fn`` runs at once.
    """
    doc = pn.state.curdoc if doc is None else doc

    def run(fn: Callable[[], object]) -> None:
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(fn)
        else:
            fn()

    return run
