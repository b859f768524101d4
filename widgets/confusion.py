"""Evaluation over the test set: ANN and SNN confusion matrices, accuracy vs t, error vs ops."""

from __future__ import annotations

from collections.abc import Sequence

import holoviews as hv
import numpy as np
import panel as pn

from spikescope.metrics import row_normalize

from .base import View, help_text, hv_pane
from .ranges import LOG_TICKS, data_limits
from .uithread import ui_runner

#: Layout of the evaluation tab's confusion matrices.
EVALUATION_HEATMAP = dict(responsive=True, height=320, xlabel="predicted class",
                          ylabel="true class", framewise=True)
#: Accuracy and error axes (%): the whole scale, with room for a curve at 0 or 100.
PERCENT_LIMITS = (-2.0, 102.0)


def confusion_heatmap(cm: np.ndarray | None, title: str, class_names: Sequence[str] | None = None,
                      *, n_classes: int = 10, cmap: str = "Blues", values: bool = False,
                      **opts) -> hv.HeatMap | hv.Overlay:
    """Row-normalized confusion matrix (rows = true class, ``spikescope.metrics.row_normalize``)
    as a HeatMap; hover shows share and count.

    ``cm`` None draws all zeros (``n_classes`` of them) before an evaluation. Classes are
    labelled by ``class_names`` (default: their indices); ``values`` writes each share on its
    cell; ``opts`` are further HoloViews options (size, labels, toolbar).
    """
    if cm is None:
        cm = np.zeros((n_classes, n_classes), dtype=np.int64)
        title += " (evaluate first)"
    share = row_normalize(cm)
    C = cm.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(C))]
    data = [(names[p], names[tr], float(share[tr, p]), int(cm[tr, p]))
            for tr in range(C) for p in range(C)]
    hm = hv.HeatMap(data, ["predicted", "true"], ["share", "count"]).opts(
        title=title, cmap=cmap, clim=(0, 1), colorbar=True, tools=["hover"],
        invert_yaxis=True, **opts)
    if not values:
        return hm
    text = hv.Labels([(p, tr, f"{v:.2f}") for p, tr, v, _ in data],
                     kdims=["predicted", "true"], vdims=["text"]).opts(text_font_size="9pt")
    return hm * text


def tapped_map(draw, session, on_tap, names=("evaluation", "t")) -> hv.DynamicMap:
    """``draw(**session params names)`` as a DynamicMap that calls ``on_tap(x=, y=)`` when its
    plot is clicked (data coordinates).

    The Tap stream is one of the DynamicMap's own streams: a Tap whose ``source`` is a
    DynamicMap of overlays attaches to no plot, and clicks did nothing.
    """
    tap = hv.streams.Tap(x=None, y=None)
    tap.add_subscriber(on_tap)
    params = hv.streams.Params(session, list(names))
    return hv.DynamicMap(lambda x=None, y=None, **kw: draw(**kw), streams=[params, tap])


class EvaluationView(View):
    """Run ANN and SNN over the test set in the background; compare them."""

    help = ("Press Evaluate to run the SNN over the test set (in the background; Cancel stops "
            "it). Confusion matrices: rows are true classes, columns predictions, each row "
            "normalized to 1 (hover for counts); SNN samples with no output spike count in no "
            "column. Accuracy vs t: SNN accuracy after each step (ms), the dashed line the "
            "ANN's. Error vs synaptic operations: the price of accuracy. Click a curve to move "
            "the simulation cursor to that time.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        s = self.session
        self.evaluate_button = pn.widgets.Button(label="Evaluate test set", color="primary",
                                                 width=160)
        self.cancel_button = pn.widgets.Button(label="Cancel", width=90, disabled=True)
        self.samples = pn.widgets.IntInput.from_param(s.param.eval_samples, name="Test samples",
                                                      width=120)
        self.progress = pn.indicators.Progress(value=0, max=100, width=220, bar_color="primary")
        self.evaluate_button.on_click(lambda e: self.start())
        self.cancel_button.on_click(lambda e: s.cancel_evaluation())
        s.param.watch(self._progress, ["eval_progress", "eval_running"])
        ev = s.param.evaluation
        self.ann_cm = hv.DynamicMap(pn.bind(lambda evaluation: confusion_heatmap(
            evaluation.ann_confusion if evaluation else None,
            "ANN confusion (row-normalized)", n_classes=s.net.n_classes,
            **EVALUATION_HEATMAP), evaluation=ev))
        self.snn_cm = hv.DynamicMap(pn.bind(lambda evaluation: confusion_heatmap(
            evaluation.snn_confusion if evaluation else None,
            "SNN confusion at T (row-normalized)", n_classes=s.net.n_classes,
            **EVALUATION_HEATMAP), evaluation=ev))
        self.accuracy = tapped_map(self._accuracy, s, self._t_from_time)
        self.error_ops = tapped_map(self._error_ops, s, self._t_from_ops)
        self.summary = pn.pane.Markdown(pn.bind(self._summary, evaluation=ev,
                                                running=s.param.eval_running),
                                        sizing_mode="stretch_width")

    def start(self):
        self.session.evaluate(on_done=ui_runner())

    def _progress(self, *_):
        s = self.session
        self.progress.value = int(round(100 * s.eval_progress))
        self.cancel_button.disabled = not s.eval_running
        self.evaluate_button.disabled = s.eval_running

    def _summary(self, evaluation, running):
        if running:
            return "Evaluating…"
        if evaluation is None:
            return "No evaluation yet: press **Evaluate test set**."
        acc = evaluation.accuracy_curve
        return (f"**ANN accuracy {evaluation.ann_accuracy:.1%} · SNN accuracy "
                f"{acc[-1]:.1%} at T = {len(acc) * evaluation.dt_ms:g} ms** "
                f"({evaluation.n_samples} test samples; best SNN {acc.max():.1%} at "
                f"t = {(int(acc.argmax()) + 1) * evaluation.dt_ms:g} ms)")

    def _t_from_time(self, x=None, y=None):
        if x is not None and self.session.evaluation is not None:
            self.set_t(x / self.session.evaluation.dt_ms)

    def _t_from_ops(self, x=None, y=None):
        ev = self.session.evaluation
        if x is not None and ev is not None:
            self.set_t(int(np.abs(ev.synaptic_ops - x).argmin()) + 1)

    def set_t(self, steps: float):
        """Move the simulation cursor to ``steps`` (clipped to 0..T of the current run)."""
        s = self.session
        s.running = False
        s.t = int(np.clip(round(steps), 0, s.timesteps))

    def _accuracy(self, evaluation, t):
        s = self.session
        if evaluation is None:
            curve = hv.Curve((np.zeros(0), np.zeros(0)), "time", "accuracy (%)")
            ann = hv.HLine(0).opts(alpha=0)
            T_ms = s.timesteps * s.dt_ms
        else:
            acc = evaluation.accuracy_curve
            time = (np.arange(len(acc)) + 1) * evaluation.dt_ms
            curve = hv.Curve((time, 100 * acc), "time", "accuracy (%)")
            ann = hv.HLine(100 * evaluation.ann_accuracy).opts(color="gray", line_dash="dashed")
            T_ms = time[-1]
        # framewise on every element: each evaluation sets the ranges anew (an overlay-level
        # framewise alone left the first, empty frame's 0..1 in place)
        return (curve.opts(tools=["hover"], line_width=2, framewise=True) * ann
                * hv.VLine(t * s.dt_ms).opts(color="black", line_dash="dotted")).opts(
            title="SNN accuracy vs time (dashed: ANN)", xlabel="time (ms)",
            ylabel="accuracy (%)", ylim=PERCENT_LIMITS, xlim=(0, T_ms), responsive=True,
            height=280, framewise=True)

    def _error_ops(self, evaluation, t):
        if evaluation is None:
            z = np.zeros(0)  # numeric empty columns: ranges stay numeric for the update
            pts = hv.Curve((z, z, z), "synaptic ops", ["error (%)", "time"])
            mark = hv.Scatter((z, z), "synaptic ops", "error (%)")
            xlim = data_limits(log=True, empty=(1e3, 1e7))
        else:
            ops, acc = evaluation.synaptic_ops, evaluation.accuracy_curve
            time = (np.arange(len(acc)) + 1) * evaluation.dt_ms
            keep = ops > 0  # a log axis: steps before the first operation have no point
            pts = hv.Curve((ops[keep], 100 * (1 - acc[keep]), time[keep]), "synaptic ops",
                           ["error (%)", "time"])
            i = int(np.clip(t, 1, len(acc))) - 1
            mark = hv.Scatter([(ops[i], 100 * (1 - acc[i]))] if ops[i] > 0 else [],
                              "synaptic ops", "error (%)")
            xlim = data_limits(ops, log=True)
        return (pts.opts(tools=["hover"], line_width=2, framewise=True)
                * mark.opts(color="black", size=8, framewise=True)).opts(
            title="Error vs synaptic operations per sample", xlabel="synaptic ops per sample",
            ylabel="error (%)", logx=True, xformatter=LOG_TICKS, xlim=xlim, ylim=PERCENT_LIMITS,
            responsive=True, height=280, framewise=True)

    def __panel__(self):
        return pn.Column(
            pn.Row(self.samples, self.evaluate_button, self.cancel_button, self.progress),
            self.summary,
            pn.Row(hv_pane(self.ann_cm, sizing_mode="stretch_width"),
                   hv_pane(self.snn_cm, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            pn.Row(hv_pane(self.accuracy, sizing_mode="stretch_width"),
                   hv_pane(self.error_ops, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            help_text(self.help), sizing_mode="stretch_width")
