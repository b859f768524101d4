"""Run comparison, as TensorBoard compares runs: pin the current run, change a parameter, and
see both runs' accuracy, error-vs-ops and EDP curves overlaid (legend labels = the parameters
they differ in), their spikes per layer and class evidence side by side, and a table of the
differing parameters."""

from __future__ import annotations

import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from .base import View, escape_text, help_text, hv_pane, layer_color
from .confusion import PERCENT_LIMITS
from .history import (
    HISTORY_SIZE,
    LIVE,
    RunHistory,
    RunSnapshot,
    diff_rows,
    run_labels,
    simulate,
)
from .ranges import LOG_TICKS, data_limits
from .uithread import ui_runner

#: Colors of the two runs compared.
RUN_COLORS = ("#1f77b4", "#d62728")
PLOT_HEIGHT = 280
ACCURACY_TITLE = "Accuracy vs time: runs compared"


def _empty_note(runs, labels) -> str:
    missing = [lab for r, lab in zip(runs, labels) if r.evaluation is None]
    return (f" (not evaluated: {', '.join(missing)})") if missing else ""


def accuracy_plot(runs: tuple[RunSnapshot, RunSnapshot], labels: tuple[str, str]):
    """Test-set accuracy after each step of both runs (dashed: the ANNs')."""
    layers = []
    T_ms = max(r.timesteps * r.dt_ms for r in runs)
    for r, lab, color in zip(runs, labels, RUN_COLORS):
        ev = r.evaluation
        if ev is None:
            continue
        time = (np.arange(len(ev.accuracy)) + 1) * r.dt_ms
        layers.append(hv.Curve((time, 100 * ev.accuracy), "time (ms)", "accuracy (%)",
                               label=lab).opts(color=color, line_width=2, tools=["hover"]))
        layers.append(hv.HLine(100 * ev.ann_accuracy).opts(color=color, alpha=0.5,
                                                            line_dash="dashed"))
    if not layers:
        layers = [hv.Curve((np.zeros(0), np.zeros(0)), "time (ms)", "accuracy (%)")]
    return hv.Overlay(layers).opts(
        title=ACCURACY_TITLE + _empty_note(runs, labels), xlim=(0, T_ms), ylim=PERCENT_LIMITS,
        responsive=True, height=PLOT_HEIGHT, legend_position="bottom_right",
        xlabel="time (ms)", ylabel="accuracy (%)")


def error_ops_plot(runs, labels):
    """Error against synaptic operations per sample of both runs (log x)."""
    layers, all_ops = [], []
    for r, lab, color in zip(runs, labels, RUN_COLORS):
        ev = r.evaluation
        if ev is None:
            continue
        keep = ev.synaptic_ops > 0
        all_ops.append(ev.synaptic_ops[keep])
        layers.append(hv.Curve((ev.synaptic_ops[keep], 100 * (1 - ev.accuracy[keep])),
                               "synaptic ops", "error (%)", label=lab).opts(
            color=color, line_width=2, tools=["hover"]))
    if not layers:
        layers = [hv.Curve((np.zeros(0), np.zeros(0)), "synaptic ops", "error (%)")]
    return hv.Overlay(layers).opts(
        title="Error vs synaptic operations: runs compared", logx=True, xformatter=LOG_TICKS,
        xlim=data_limits(*all_ops, log=True, empty=(1e3, 1e7)), ylim=PERCENT_LIMITS,
        responsive=True, height=PLOT_HEIGHT, legend_position="top_right",
        xlabel="synaptic ops per sample", ylabel="error (%)")


def edp_plot(runs, labels, platform: str | None):
    """Energy-delay product after each step of both runs on ``platform`` (log y)."""
    layers, all_edp = [], []
    T_ms = max(r.timesteps * r.dt_ms for r in runs)
    for r, lab, color in zip(runs, labels, RUN_COLORS):
        edp = None if r.evaluation is None else r.evaluation.edp_js.get(platform)
        if edp is None:
            continue
        time = (np.arange(len(edp)) + 1) * r.dt_ms
        keep = edp > 0
        all_edp.append(edp[keep])
        layers.append(hv.Curve((time[keep], edp[keep]), "time (ms)", "EDP (J s)",
                               label=lab).opts(color=color, line_width=2, tools=["hover"]))
    if not layers:
        layers = [hv.Curve((np.zeros(0), np.zeros(0)), "time (ms)", "EDP (J s)")]
    return hv.Overlay(layers).opts(
        title=f"Energy-delay product on {platform}: runs compared", logy=True,
        xlim=(0, T_ms), ylim=data_limits(*all_edp, log=True, empty=(1e-12, 1e-6)),
        responsive=True, height=PLOT_HEIGHT, legend_position="bottom_right",
        xlabel="time (ms)", ylabel="EDP (J s)")


def spikes_plot(run: RunSnapshot, label: str, top: float):
    """Spikes per step of every layer of ``run``'s sample (y up to ``top``)."""
    time = (np.arange(run.timesteps) + 1) * run.dt_ms
    curves = [hv.Curve((time, run.layer_spikes[:, l]), "time (ms)", "spikes per step",
                       label=name).opts(color=layer_color(l), line_width=1.5)
              for l, name in enumerate(run.layer_names)]
    return hv.Overlay(curves).opts(
        title=f"Spikes per step: {label}", xlim=(0, run.timesteps * run.dt_ms),
        ylim=(0, top), responsive=True, height=240, legend_position="top_right",
        xlabel="time (ms)", ylabel="spikes per step")


def evidence_plot(run: RunSnapshot, label: str, ylim: tuple[float, float]):
    """Class evidence over time of ``run``'s sample (the classes with most evidence at T)."""
    ev = run.evidence
    time = np.arange(len(ev)) * run.dt_ms
    ylabel = "output membrane (readout)" if run.membrane_readout else "output spikes"
    curves = [hv.Curve((time, ev[:, j]), "time (ms)", ylabel, label=f"class {c}").opts(
        line_width=1.5) for j, c in enumerate(run.classes)]
    return hv.Overlay(curves).opts(
        title=f"Class evidence: {label} ({run.answer})", xlim=(0, time[-1]), ylim=ylim,
        responsive=True, height=240, legend_position="right", xlabel="time (ms)",
        ylabel=ylabel)


def _row(*plots) -> pn.Row:
    return pn.Row(*[hv_pane(p) for p in plots], sizing_mode="stretch_width")


class CompareView(View):
    """Pin runs of the session and compare two of them (a pinned one and the live one by
    default)."""

    help = ("Pin run keeps the current configuration, its spikes and class evidence for the "
            "sample and, if this configuration was evaluated, its test-set curves (the last "
            f"{HISTORY_SIZE} pins are kept). Change a parameter (code, percentile, reset, ...) and "
            "compare: curves are overlaid, labelled by the parameters the runs differ in; "
            "spikes per layer and class evidence of the sample are side by side. Evaluate "
            "both runs computes the test-set curves of a run compared that lacks them (on "
            "the number of test samples of the Evaluation tab). The URL keeps the pinned "
            "configuration: opened elsewhere it simulates and evaluates it again.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        s = self.session
        self.history = RunHistory(s)
        self.pin_button = pn.widgets.Button(label="Pin run", color="primary",
                                            sizing_mode="stretch_width",
                                            description="Keep this run to compare it with "
                                                        "later ones (Compare runs tab).")
        self.evaluate_button = pn.widgets.Button(label="Evaluate both runs", width=170)
        self.clear_button = pn.widgets.Button(label="Clear pins", width=100)
        self.a_select = pn.widgets.Select(label="Run A", width=200)
        self.b_select = pn.widgets.Select(label="Run B", width=200)
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.pin_button.on_click(lambda e: self.pin())
        self.evaluate_button.on_click(lambda e: self.evaluate_missing())
        self.clear_button.on_click(lambda e: self.history.clear())
        self.a_select.param.watch(lambda e: setattr(self.history, "a", e.new or ""), "value")
        self.b_select.param.watch(lambda e: setattr(self.history, "b", e.new or LIVE), "value")
        self.history.param.watch(self._options, ["runs", "a", "b"])
        self._options()
        # drawn only while on screen (View.on_screen, set by the dashboard from the open tab):
        # building the plots takes a few hundred ms, too long for every parameter change
        self._stale = True
        self.body = pn.Column(sizing_mode="stretch_width")
        self.history.param.watch(self._changed, ["runs", "a", "b"])
        s.param.watch(self._changed, "platform")
        s.param.watch(self._live_changed, ["evaluation", "version"])
        self._changed()

    # ------------------------------------------------------------------ actions
    def pin(self) -> RunSnapshot:
        """Pin the current run (compared with the live one from now on)."""
        run = self.history.pin()
        what = "with" if run.evaluation is not None else "without"
        self.status.object = (f"Pinned the current run as **{run.name}** ({what} test-set "
                              f"curves). Change a parameter to compare.")
        return run

    def restore(self, params: dict, eval_samples: int) -> None:
        """Simulate and evaluate the configuration ``params`` (from a URL) as a pinned run in
        the background, and evaluate the live run; both are compared when done."""
        name = self.history.next_name()
        self.status.object = "Simulating and evaluating the pinned configuration..."
        self._work([(name, params)], eval_samples, add=True)
        self._evaluate_live()

    def evaluate_missing(self) -> None:
        """Evaluate each run compared that has no test-set curves (pinned ones in the
        background, the live one through the session's own evaluation)."""
        runs = self.history.compared()
        if runs is None:
            self.status.object = "Pin a run first (**Pin run**, in the sidebar)."
            return
        todo = [(r.name, r.params) for r in runs if r.name != LIVE and r.evaluation is None]
        if todo:
            self.status.object = "Evaluating the pinned run..."
            self._work(todo, self.session.eval_samples, add=False)
        if LIVE in (r.name for r in runs):
            self._evaluate_live()

    def _evaluate_live(self) -> None:
        if self.history.live_evaluation() is None:
            self.session.evaluate(on_done=ui_runner())

    def _work(self, todo, eval_samples: int, add: bool) -> None:
        on_ui = ui_runner()

        def work():
            for name, params in todo:
                try:
                    run = simulate(params, name, eval_samples=eval_samples)
                except Exception as e:  # noqa: BLE001 - said in the tab; the session goes on
                    msg = f"{name} could not run: {type(e).__name__}: {e}"
                    on_ui(lambda m=msg: self._done(None, m, add))
                    continue
                on_ui(lambda r=run: self._done(r, "", add))

        threading.Thread(target=work, daemon=True, name="spikescope-compare").start()

    def _done(self, run: RunSnapshot | None, msg: str, add: bool) -> None:
        if run is None:
            self.status.object = escape_text(msg)
            if add:  # a configuration from the URL: said on every tab, and out of the URL
                self.session.error = msg
                self.history.param.trigger("runs")
            return
        (self.history.add if add else self.history.replace)(run)
        self.status.object = f"**{run.name}** evaluated."

    def _options(self, *_) -> None:
        h = self.history
        names = h.names()
        self.a_select.param.update(options=names, value=h.a or None)
        self.b_select.param.update(options=names, value=h.b)

    # ------------------------------------------------------------------ drawing
    @param.depends("on_screen", watch=True)
    def _shown(self) -> None:
        if self.on_screen and self._stale:  # something changed while hidden
            self.redraw()

    def _live_changed(self, *_) -> None:
        if LIVE in (self.history.a, self.history.b):  # two pinned runs do not change
            self._changed()

    def _changed(self, *_) -> None:
        self._stale = True
        if self.on_screen:
            self.redraw()

    def redraw(self) -> None:
        self._stale = False
        self.body[:] = [self._body(self.session.platform)]

    def _body(self, platform):
        pair = self.history.compared()
        if pair is None:
            return pn.pane.Markdown("No run pinned yet: press **Pin run**, change a parameter "
                                    "(e.g. the code), and the two runs are compared here.",
                                    sizing_mode="stretch_width")
        labels = run_labels(*pair)
        rows = diff_rows(*pair)
        table = (pn.pane.DataFrame(pd.DataFrame(rows, columns=["parameter", *labels]),
                                   index=False, escape=True, sizing_mode="stretch_width")
                 if rows else pn.pane.Markdown("The two runs have the same parameters."))
        top = max(float(r.layer_spikes.max(initial=0)) for r in pair) * 1.05 or 1.0
        same_kind = pair[0].membrane_readout == pair[1].membrane_readout
        ev_lim = data_limits(*[r.evidence for r in pair]) if same_kind else None
        return pn.Column(
            table,
            _row(accuracy_plot(pair, labels), error_ops_plot(pair, labels)),
            _row(edp_plot(pair, labels, platform)),
            _row(*[spikes_plot(r, lab, top) for r, lab in zip(pair, labels)]),
            _row(*[evidence_plot(r, lab, ev_lim or data_limits(r.evidence))
                  for r, lab in zip(pair, labels)]),
            sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Column(
            pn.Row(self.a_select, self.b_select, self.evaluate_button, self.clear_button),
            self.status, self.body, help_text(self.help), sizing_mode="stretch_width")
