"""The spikescope dashboard: every view of one :class:`Session`, composed."""

from __future__ import annotations

import panel as pn
import param

from .activity import ActivityView
from .confusion import EvaluationView
from .controls import ControlsView
from .evidence import EvidenceView
from .membrane import MembraneView
from .raster import RasterView
from .reconstruction import InputView
from .session import Session
from .tradeoff import TradeoffView

TITLE = "spikescope: step a converted spiking network"
URL_PARAMS = ("model", "dataset", "sample", "code", "encoding", "timesteps", "speed",
              "eval_samples")


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
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   sizing_mode="stretch_width")
        self._callback = None
        s.param.watch(self._show_error, "error")
        s.param.watch(self._animate, "running")
        s.param.watch(self._restart, "speed")
        self.tabs = pn.Tabs(
            ("Simulation", pn.Column(
                pn.Row(self.inputs, self.evidence, sizing_mode="stretch_width"),
                self.raster, self.membrane, sizing_mode="stretch_width")),
            ("Activity & normalization", self.activity),
            ("Evaluation", pn.Column(self.evaluation, pn.layout.Divider(), "### Energy",
                                     self.tradeoff, sizing_mode="stretch_width")),
            dynamic=True, sizing_mode="stretch_width")

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
        self.alert.object = event.new
        self.alert.visible = bool(event.new)

    # ------------------------------------------------------------------ layout
    def main(self) -> pn.Column:
        return pn.Column(self.alert, self.tabs, sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Row(pn.Column(self.controls, width=320), self.main(),
                      sizing_mode="stretch_width")

    def servable(self, title: str | None = None, **kwargs):
        """Serve in a Bootstrap template: controls in the sidebar, views in the main area."""
        if pn.state.location is not None:  # shareable URLs: /app?model=lenet5&sample=3
            pn.state.location.sync(self.session, {k: k for k in URL_PARAMS})
        # Bootstrap: its resources are bundled with Panel (Fast/Material fetch Google fonts),
        # so the page works offline and loads without console errors
        template = pn.template.BootstrapTemplate(
            title=title or TITLE, sidebar=[self.controls], main=[self.main()],
            sidebar_width=340, header_background="#1f4e79")
        return template.servable(**kwargs)
