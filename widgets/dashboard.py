"""The spikescope dashboard: every view of one :class:`Session`, composed."""

from __future__ import annotations

import io
import re
import urllib.parse

import panel as pn
import param

from .activity import ActivityView
from .base import escape_text
from .compare import CompareView
from .confusion import EvaluationView
from .controls import ControlsView
from .evidence import EvidenceView
from .history import LIVE, decode_pin, decode_traces, encode_pin, encode_traces
from .membrane import MembraneView
from .raster import RasterView
from .reconstruction import InputView
from .session import Session
from .tradeoff import TradeoffView
from .transfer import UPLOAD_PREFIX
from .upload import UploadView

TITLE = "spikescope: step a converted spiking network"
#: Session parameters mirrored in the URL query: /app?model=digits-mlp&sample=3&percentile=99.0
URL_PARAMS = ("model", "dataset", "sample", "code", "encoding", "percentile", "timesteps",
              "threshold", "leak", "neuron", "reset", "clamp_delay", "speed", "eval_samples")
#: Tabs built on first show (keeps the page load fast): index in the tab list -> title.
LAZY_TABS = ("Sweeps", "Jets", "Learning rules")
#: The run comparison's tab, after the lazy ones (tab indices in older URLs stay valid).
COMPARE_TAB = "Compare runs"
def _sweeps(session: Session):
    """The Sweeps tab, on the session's model when the sweep can run it (zoo ANNs)."""
    from .sweeps import SweepSettings, SweepsView

    models = SweepSettings.param.model.objects
    model = session.model if session.model in models else SweepSettings.param.model.default
    return SweepsView(settings=SweepSettings(model=model))


def _jets():
    from .jets import JetsTab

    return JetsTab()


def _learning():
    from .learning import LearningRulesTab

    return LearningRulesTab()


class Dashboard(pn.viewable.Viewer):
    """Controls, live simulation views and the test-set evaluation of one session.

    In a notebook ``Dashboard()`` renders inline; ``Dashboard().servable()`` serves it in a
    Bootstrap template (controls in the sidebar).
    """

    session = param.ClassSelector(class_=Session, doc="The session every view draws.")

    def __init__(self, session: Session | None = None, **params):
        super().__init__(session=session if session is not None else Session(), **params)
        s = self.session
        self.controls = ControlsView(s)
        self.raster = RasterView(s)
        self.membrane = MembraneView(s)
        self.inputs = InputView(s)
        self.evidence = EvidenceView(s)
        self.activity = ActivityView(s)
        self.evaluation = EvaluationView(s)
        self.tradeoff = TradeoffView(s)
        self.compare = CompareView(s)
        self.upload = UploadView(s)
        self.download = pn.widgets.FileDownload(
            callback=self._run_file, filename=self._run_filename(), label="Download run",
            sizing_mode="stretch_width",
            description="The current parameters, recording and plot data as a "
                        "spikescope.io.save_run .npz file (spikescope.io.load_run reads it).")
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   sizing_mode="stretch_width")
        self.notice = pn.pane.Alert(escape_text(s.notice), alert_type="info",
                                    visible=bool(s.notice), sizing_mode="stretch_width")
        self._callback = None
        s.param.watch(self._show_error, "error")
        s.param.watch(self._show_notice, "notice")
        s.param.watch(self._animate, "running")
        s.param.watch(self._restart, "speed")
        s.param.watch(self._new_run, "version")
        self.reconstruction_note = pn.pane.Markdown(
            "This model reconstructs an image (a still image from events, or the digit "
            "through an encoder and decoder): its output is the image right of the input, "
            "not class evidence.", sizing_mode="stretch_width")
        self.top = pn.Row(sizing_mode="stretch_width")
        self._top_task = None
        self._layout_top()
        self._lazy = {3 + i: f for i, f in enumerate((lambda: _sweeps(s), _jets, _learning))}
        self.built: dict = {}  # lazy tab index -> its view, once shown
        # dynamic: only the open tab's models live in the browser (a page loads in about a
        # third of the time); app/main.py keeps hidden panes' stylesheets on this server
        self.tabs = pn.Tabs(
            ("Simulation", pn.Column(self.top, self.raster, self.membrane,
                                     sizing_mode="stretch_width")),
            ("Activity & normalization", self.activity),
            ("Evaluation", pn.Column(self.evaluation, pn.layout.Divider(), "### Energy",
                                     self.tradeoff, sizing_mode="stretch_width")),
            *[(title, pn.Column(sizing_mode="stretch_width")) for title in LAZY_TABS],
            (COMPARE_TAB, self.compare), dynamic=True, sizing_mode="stretch_width")
        self.compare_index = len(self.tabs) - 1
        #: views that work only while their tab is open (View.on_screen): tab index -> views
        self.tab_views = {1: [self.activity], self.compare_index: [self.compare]}
        self._on_screen(self.tabs.active)
        self.tabs.param.watch(self._build_tab, "active")

    # ------------------------------------------------------------------ tabs and layout
    def _build_tab(self, event) -> None:
        """Build a heavy tab the first time it is shown; views of hidden tabs rest."""
        self._build(event.new)
        self._on_screen(event.new)

    def _on_screen(self, active: int) -> None:
        for i, views in self.tab_views.items():
            for view in views:
                view.on_screen = i == active

    def _build(self, i: int) -> None:
        factory = self._lazy.pop(i, None)
        if factory is not None:
            self.built[i] = factory()
            self.tabs[i][:] = [self.built[i]]

    def tab(self, title: str):
        """The view in the tab ``title`` (built now if it is a lazy one)."""
        i = [self.tabs._names[k] for k in range(len(self.tabs))].index(title)
        self._build(i)
        return self.built.get(i, self.tabs[i])

    def _layout_top(self) -> None:
        """Input and class evidence; for models that reconstruct images, no class evidence."""
        task = self.session.task
        if task != self._top_task:
            self._top_task = task
            self.top[:] = ([self.inputs, self.evidence] if task == "classification" else
                           [pn.Column(self.reconstruction_note, self.inputs,
                                      sizing_mode="stretch_width")])

    def _new_run(self, *_):
        self._layout_top()
        self.download.filename = self._run_filename()

    # ------------------------------------------------------------------ run export
    def _run_filename(self) -> str:
        s = self.session
        name = str(s.model).replace(UPLOAD_PREFIX, "").replace(" ", "_").replace("/", "_")
        return f"spikescope-run-{name}-sample{s.sample}-T{s.timesteps}.npz"

    def _run_file(self) -> io.BytesIO:
        return io.BytesIO(self.session.export_run())

    # ------------------------------------------------------------------ Run animation
    def _animate(self, event):
        if event.new:
            self._start_callback()
        elif self._callback is not None:
            self._callback.stop()
            self._callback = None

    def _start_callback(self):
        if self._callback is not None:
            self._callback.stop()
        self._callback = pn.state.add_periodic_callback(self.session.tick,
                                                        period=self.session.period_ms())

    def _restart(self, *_):
        if self._callback is not None:
            self._start_callback()

    def _show_error(self, event):
        self.alert.object = escape_text(event.new)  # may quote a URL value or a file
        self.alert.visible = bool(event.new)

    def _url_in_use(self, *_) -> None:
        """After a choice went back (the session has an error), put the session's values into
        the URL where it holds others: the URL never keeps a refused value."""
        loc = pn.state.location
        if loc is None or not self.session.error:
            return
        fix = {k: getattr(self.session, k) for k in URL_PARAMS if k in loc.query_params
               and str(loc.query_params[k]) != str(getattr(self.session, k))}
        if fix:
            loc.update_query(**fix)

    def _show_notice(self, event):
        self.notice.object = escape_text(event.new)
        self.notice.visible = bool(event.new)

    def sidebar(self) -> pn.Column:
        """Controls, the model upload and the run export."""
        return pn.Column(self.controls, "### Run comparison", self.compare.pin_button,
                         "### Your model", self.upload, "### Export", self.download,
                         sizing_mode="stretch_width")

    # ------------------------------------------------------------------ layout
    def main(self) -> pn.Column:
        return pn.Column(self.alert, self.notice, self.tabs, sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Row(pn.Column(self.sidebar(), width=320), self.main(),
                      sizing_mode="stretch_width")

    def servable(self, title: str | None = None, **kwargs):
        """Serve in a Bootstrap template: controls in the sidebar, views in the main area."""
        if pn.state.location is not None:  # shareable URLs: /app?model=lenet5&sample=3
            pn.state.location.sync(self.session, {k: k for k in URL_PARAMS},
                                   on_error=self._url_error)
            # after the URL's own watchers: it has just recorded the refused value
            self.session.param.watch(self._url_in_use, list(URL_PARAMS))
            # the view too: time cursor and open tab (/app?t=40&tab=2 opens that picture)
            pn.state.location.sync(self.session, {"t": "t"})
            pn.state.location.sync(self.tabs, {"active": "tab"})
            self._build(self.tabs.active)  # a lazy tab opened from the URL
            self._on_screen(self.tabs.active)
            self._url_view(pn.state.location)  # traced neurons and a pinned comparison
        # Bootstrap: its resources are bundled with Panel (Fast/Material fetch Google fonts),
        # so the page works offline and loads without console errors
        template = pn.template.BootstrapTemplate(
            title=title or TITLE, sidebar=[self.sidebar()], main=[self.main()],
            sidebar_width=340, header_background="#1f4e79")
        return template.servable(**kwargs)

    def _url_error(self, mapped: dict) -> None:
        """Apply the URL's valid parameters one by one; say in words which were not, and put
        the values in use back into the URL (it never keeps an invalid value)."""
        s, notes, bad = self.session, [], []
        for k in ("model", *[k for k in mapped if k != "model"]):
            if k not in mapped:
                continue
            s.error = ""
            try:
                setattr(s, k, mapped[k])
            except Exception as e:  # noqa: BLE001 - an unknown value in a shared URL
                why = plain_words(e).rstrip(".")
                notes.append(f"ignored URL parameter {k}={mapped[k]!r}: {why}.")
                bad.append(k)
                continue
            if s.error:  # it did not run: the session went back to the last choice that did
                notes.append(s.error)
                bad.append(k)
        if bad and pn.state.location is not None:
            pn.state.location.update_query(**{k: getattr(s, k) for k in bad})
        s.error = (" ".join(notes) + " The page shows the values in use.") if notes else ""


    # ------------------------------------------------------------------ view in the URL
    def _url_view(self, loc) -> None:
        """Apply the URL's traced neurons (``traces=2.15,3.7``) and pinned configuration
        (``pin=code:rate``, relative to the URL's own parameters: re-simulated and evaluated
        with the live run); say in words which values were refused and drop them from the
        URL. From then on the URL follows the traces and the pinned run."""
        s, query, notes, refused = self.session, raw_query(loc), [], {}
        if "traces" in query:
            try:
                traces = decode_traces(query["traces"], s.net.n_neurons, s.max_traces)
            except ValueError as e:
                notes.append(f"ignored URL parameter {e}.")
                refused["traces"] = query["traces"]
            else:
                s.set_traces(traces)
        if "pin" in query:
            try:
                params = decode_pin(query["pin"], s)
            except ValueError as e:
                notes.append(f"ignored URL parameter {e}.")
                refused["pin"] = query["pin"]
            else:
                self.compare.restore(params, s.eval_samples)
        if notes:
            s.error = " ".join([s.error, *notes]).strip()
        if refused:
            # out of the URL now, and again once the browser has sent its own search (the
            # page's first report of its location puts the refused values back)
            def drop(*_):
                for k, v in refused.items():
                    if raw_query(loc).get(k) == v:
                        drop_query(loc, k)
            drop()
            loc.param.watch(drop, "search")
        s.param.watch(lambda e: loc.update_query(traces=encode_traces(e.new)), "traces")
        self.compare.history.param.watch(self._url_pin, ["runs", "a", "b"])
        s.param.watch(self._url_pin, "version")

    def _url_pin(self, *_) -> None:
        """The pinned run compared with the live one, relative to the live parameters."""
        loc, h = pn.state.location, self.compare.history
        run = h.get(h.a) if h.a and h.b == LIVE else None
        if loc is None:
            return
        if run is None:
            drop_query(loc, "pin")
            return
        pin = encode_pin(run.params, {k: getattr(self.session, k) for k in run.params})
        if raw_query(loc).get("pin") != pin:
            loc.update_query(pin=pin)


def raw_query(loc) -> dict[str, str]:
    """The URL's query as text (Panel's ``query_params`` reads "2.10" as the number 2.1)."""
    return dict(urllib.parse.parse_qsl(loc.search.lstrip("?"), keep_blank_values=True))


def drop_query(loc, key: str) -> None:
    """Remove ``key`` from the URL's query (if there)."""
    query = raw_query(loc)
    if query.pop(key, None) is not None:
        loc.search = "?" + urllib.parse.urlencode(query) if query else ""


def plain_words(e: Exception) -> str:
    """A parameter's validation error without the class names: "must be at most 359, not
    99999" (from "Integer parameter 'Session.sample' must be at most ...")."""
    msg = re.sub(r"^\w+ parameter '[\w.]+' ", "", str(e))
    return re.sub(r"valid options include: '\[(.*)\]'", r"choose one of \1", msg)
