"""Learning-rule lab views: the temporal signal-encoder explorer, the gradient comparison and
the dashboard's Learning rules tab.

``EncoderExplorer`` encodes a 1-D signal with a temporal encoder (Petro et al. 2020, as in
Neko): temporal contrast ("tc"), step-forward ("sf") or moving window ("mw"), and shows the
signal, the signed spikes and the decoded reconstruction x_0 + threshold * cumsum(s), with the
spike count and the reconstruction RMSE. ``gradient_comparison_plot`` draws the per-batch
cosine similarity / relative deviation of a rule's gradient against BPTT
(``spikescope.training.rules.Trainer(...).fit(..., compare_to=BPTT())``).
``LearningRulesTab`` trains in a worker thread (as notebook 07, in seconds): e-prop against
BPTT batch by batch (:func:`eprop_vs_bptt`) and backprop against the Manhattan rule epoch by
epoch (:func:`manhattan_curves`), then draws both beside the encoder explorer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
import numpy as np
import panel as pn
import param
import torch
from torch import nn

from spikescope import datasets
from spikescope.codes.signal_encoders import SIGNAL_ENCODERS, encode_signal
from spikescope.training.recurrent import RecurrentSNN
from spikescope.training.rules import BPTT, EProp, Manhattan, Rule, Trainer, accuracy, mean_history

from .base import escape_text
from .uithread import ui_runner

hv.Store.set_current_backend("bokeh")

ENCODER_NAMES = {"temporal contrast (tc)": "tc", "step-forward (sf)": "sf",
                 "moving window (mw)": "mw"}
SIGNAL_COLOR, DECODED_COLOR, UP_COLOR, DOWN_COLOR = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"


def default_signal(n: int = 300) -> torch.Tensor:
    """A smooth test signal: sin(t) + 0.3 sin(3t) over one period, (n,) (max step ~0.04)."""
    t = torch.linspace(0, 2 * np.pi, n)
    return torch.sin(t) + 0.3 * torch.sin(3 * t)


class EncoderExplorer(pn.viewable.Viewer):
    """Signal, spikes and reconstruction of one temporal encoder, live under its threshold."""

    encoder = param.Selector(default="sf", objects=list(SIGNAL_ENCODERS),
                             doc='Temporal encoder: "tc" temporal contrast, "sf" step-forward, '
                                 '"mw" moving window.')
    threshold = param.Number(default=0.1, bounds=(0.0, 2.0), softbounds=(0.0, 1.0), step=0.01,
                             doc="Encoder threshold (signal units); for tc the factor k of "
                                 "threshold = mean(dx) + k std(dx).")
    window = param.Integer(default=3, bounds=(1, 50),
                           doc="Moving-window length in samples (mw only).")
    signal = param.Parameter(default=None, doc="The 1-D signal (L,) to encode; None: "
                                               ":func:`default_signal`.")
    spike_count = param.Integer(default=0, constant=True,
                                doc="Number of spikes (+1 and -1) the encoder emitted.")
    rmse = param.Number(default=0.0, constant=True,
                        doc="Root-mean-square error of the reconstruction (signal units).")

    def __init__(self, **params):
        super().__init__(**params)
        if self.signal is None:
            self.signal = default_signal()
        self._update()

    @param.depends("encoder", "threshold", "window", "signal", watch=True)
    def _update(self) -> None:
        x = torch.as_tensor(self.signal, dtype=torch.float32).reshape(-1)
        # sf/mw need a positive threshold; 0 is only meaningful for tc (threshold = |mean dx|)
        thr = self.threshold if self.encoder == "tc" else max(self.threshold, 1e-3)
        res = encode_signal(x, self.encoder, thr, self.window)
        self.result = {"x": x.numpy(), "spikes": res["spikes"][0].numpy(),
                       "decoded": res["decoded"][0].numpy()}
        with param.edit_constant(self):
            self.spike_count, self.rmse = res["spike_count"], res["rmse"]

    @param.depends("spike_count", "rmse", "encoder", "threshold", "window", "signal")
    def plot(self) -> hv.Layout:
        r = self.result
        t = np.arange(len(r["x"]))
        title = (f"{self.encoder}: {self.spike_count} spikes, RMSE {self.rmse:.3f}")
        top = (hv.Curve((t, r["x"]), "sample", "signal", label="signal").opts(
                   color=SIGNAL_COLOR, line_width=2)
               * hv.Curve((t, r["decoded"]), "sample", "signal", label="reconstruction").opts(
                   color=DECODED_COLOR, interpolation="steps-post"))
        top = top.opts(title=title, width=620, height=240, legend_position="bottom_left")
        s = r["spikes"]
        up, down = t[s > 0], t[s < 0]
        spikes = (hv.Spikes((up, np.ones(len(up))), "sample", "spike", label="+1").opts(
                      color=UP_COLOR)
                  * hv.Spikes((down, -np.ones(len(down))), "sample", "spike",
                              label="-1").opts(color=DOWN_COLOR))
        spikes = spikes.opts(hv.opts.Spikes(spike_length=1), hv.opts.Overlay(
            width=620, height=120, ylim=(-1.1, 1.1), show_legend=False, title="spikes"))
        return (top + spikes).cols(1)

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Param(self.param, parameters=["encoder", "threshold", "window"],
                            # throttled: the value is sent on release, so the kernel keeps the
                            # end of a drag (a from_param/pn.Param slider sending every value
                            # fell out of step with the kernel in JupyterLab)
                            widgets={"threshold": {"type": pn.widgets.FloatSlider,
                                                   "throttled": True},
                                     "window": {"type": pn.widgets.IntSlider,
                                                "throttled": True}},
                            show_name=False, width=240)
        stats = pn.pane.Markdown(pn.bind(
            lambda n, e: f"**spikes:** {n}  \n**RMSE:** {e:.4f}",
            self.param.spike_count, self.param.rmse))
        return pn.Row(pn.Column(controls, stats), pn.pane.HoloViews(self.plot))


def gradient_comparison_plot(history: dict[str, list[dict]] | list[dict], *,
                             parameter: str = "w_in", metric: str = "cosine",
                             width: int = 560, height: int = 300) -> hv.Overlay:
    """Per-batch ``metric`` ("cosine", "rel_deviation" or "bias") of ``parameter``'s gradient
    against the reference, one curve per rule.

    ``history`` is a ``Trainer.fit(..., compare_to=BPTT())`` history (one rule) or a dict
    rule name -> history. Rows without the key ``f"{parameter}/{metric}"`` are skipped.
    """
    if not isinstance(history, dict):
        history = {"rule": history}
    key = f"{parameter}/{metric}"
    curves = []
    for name, rows in history.items():
        pts = [(r.get("batch", i), r[key]) for i, r in enumerate(rows) if key in r]
        if not pts:
            raise KeyError(f"no {key!r} in the history of {name!r}: train with "
                           f"compare_to=BPTT() to record the gradient comparison")
        curves.append(hv.Curve(pts, "batch", hv.Dimension(key, label=f"{parameter} {metric}"),
                               label=name))
    return hv.Overlay(curves).opts(hv.opts.Curve(line_width=2, tools=["hover"]),
                                   hv.opts.Overlay(width=width, height=height,
                                                   legend_position="bottom_right",
                                                   title=f"{metric} of {parameter} vs BPTT",
                                                   show_grid=True))



# ================================================================== the Learning rules tab
#: e-prop's feedback kinds compared with BPTT (symmetric B = W_out^T, fixed random B).
FEEDBACKS = ("symmetric", "random")
#: Conductance bound of the bounded Manhattan rule (|w| <= G_MAX).
G_MAX = 0.3
RULE_COLORS = {"backprop (Adam)": "#1f77b4", "Manhattan": "#ff7f0e",
               f"Manhattan, |w| <= {G_MAX}": "#2ca02c"}
Tick = Callable[[], None] | None
Stop = Callable[[], bool] | None


def eprop_vs_bptt(n_batches: int = 16, *, batch_size: int = 32, n_train: int = 256,
                  on_batch: Tick = None, stop: Stop = None) -> dict[str, list[dict]]:
    """e-prop's update against BPTT's on the same weights, batch by batch: a recurrent ALIF
    network (1-24-10) trained by e-prop on MNIST-1D sequences (notebook 07's setting).

    Returns rule name -> per-batch rows of ``spikescope.training.rules.compare_gradients``
    (``"w_in/cosine"``, ``"w_rec/rel_deviation"``, ...; ``"batch"``). ``on_batch()`` runs after
    each batch; ``stop()`` returning True ends early with the batches done so far.
    """
    x, y = datasets.load("mnist1d", "train")
    x, y = x[:n_train], y[:n_train]
    out: dict[str, list[dict]] = {}
    for fb in FEEDBACKS:
        trainer = Trainer(RecurrentSNN(1, 24, 10, cell="alif", seed=0), EProp(fb, seed=1),
                          lr=5e-3)
        gen = torch.Generator().manual_seed(0)
        rows = out.setdefault(f"e-prop ({fb})", [])
        for b in range(n_batches):
            if stop is not None and stop():
                return out
            idx = torch.randperm(len(x), generator=gen)[:batch_size]
            rows.append(dict(trainer.train_step((x[idx], y[idx]), compare_to=BPTT()),
                             batch=b))
            if on_batch is not None:
                on_batch()
    return out


def _digits_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def manhattan_curves(epochs: int = 16, *, on_epoch: Tick = None,
                     stop: Stop = None) -> dict[str, list[float]]:
    """Test accuracy after each epoch of a 64-64-32-10 MLP on the 8x8 digits trained by
    backprop (Adam, lr 3e-3), the Manhattan rule (delta w = -1e-3 sign(dE/dw)) and the
    Manhattan rule with weights in [-G_MAX, G_MAX] (notebook 07's setting).

    Returns rule name -> accuracies (one per epoch). ``on_epoch()`` runs after each epoch;
    ``stop()`` returning True ends early.
    """
    xtr, ytr = datasets.load("digits", "train")
    xte, yte = datasets.load("digits", "test")
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    rules: dict[str, tuple[Rule, dict]] = {
        "backprop (Adam)": (BPTT(), {"lr": 3e-3}), "Manhattan": (Manhattan(1e-3), {}),
        f"Manhattan, |w| <= {G_MAX}": (Manhattan(1e-3, g_max=G_MAX), {})}
    out: dict[str, list[float]] = {}
    for name, (rule, kw) in rules.items():
        model = _digits_mlp()
        trainer = Trainer(model, rule, **kw)
        acc = out.setdefault(name, [])
        for epoch in range(epochs):
            if stop is not None and stop():
                return out
            trainer.fit(xtr, ytr, epochs=1, batch_size=32, seed=epoch, progress=False)
            acc.append(accuracy(model, xte, yte))
            if on_epoch is not None:
                on_epoch()
    return out


def training_curve_plot(curves: dict[str, list[float]], *, width: int = 560,
                        height: int = 300) -> hv.Overlay:
    """Test accuracy vs epoch, one curve per rule (:func:`manhattan_curves`)."""
    items = [hv.Curve((np.arange(1, len(a) + 1), a), "epoch", "test accuracy",
                      label=name).opts(color=RULE_COLORS.get(name), line_width=2)
             for name, a in curves.items() if a]
    lo = min([min(a) for a in curves.values() if a] + [1.0])
    return hv.Overlay(items).opts(
        hv.opts.Curve(tools=["hover"]),
        hv.opts.Overlay(width=width, height=height, ylim=(max(0.0, lo - 0.05), 1.0),
                        legend_position="bottom_right", show_grid=True,
                        title="Manhattan rule vs backprop: test accuracy per epoch"))


def rules_summary(histories: dict[str, list[dict]], curves: dict[str, list[float]]) -> str:
    """The numbers behind the two plots, in words (Markdown)."""
    lines = []
    for name, rows in histories.items():
        if rows:
            lines.append(f"- **{name}**: mean cosine to BPTT w_in "
                         f"{mean_history(rows, 'w_in/cosine'):.2f}, w_rec "
                         f"{mean_history(rows, 'w_rec/cosine'):.2f} over {len(rows)} batches")
    for name, acc in curves.items():
        if acc:
            lines.append(f"- **{escape_text(name)}**: test accuracy {acc[-1]:.3f} after "
                         f"{len(acc)} epochs")
    return "\n".join(lines)


LEARNING_HELP = (
    "**e-prop vs BPTT** (Bellec et al. 2020; Neko): a recurrent ALIF network learns MNIST-1D "
    "with e-prop, and on every batch its update is compared with the exact BPTT gradient on "
    "the same weights (cosine similarity: 1 = the same direction). Symmetric feedback "
    "(B = W_out^T) stays close; fixed random feedback does not point along the gradient. "
    "**Manhattan rule** (Zamanidoost et al. 2015): memristive synapses move by a fixed step, "
    "delta w = -eta sign(dE/dw), optionally within a bounded conductance |w| <= g_max; its "
    "test accuracy per epoch beside backprop with Adam, on the 8x8 digits. Notebook "
    "`07_learning_rules.ipynb` runs the same experiments step by step.")


#: Finished (not stopped) runs of the tab, (n_batches, epochs) -> (histories, curves): the runs
#: are seeded, so every session shows the same numbers; shared read-only across sessions.
_FINISHED: dict[tuple[int, int], tuple[dict, dict]] = {}


class LearningRulesTab(pn.viewable.Viewer):
    """The dashboard's Learning rules tab: e-prop vs BPTT gradient comparison and the
    Manhattan-rule training curve (trained when the tab is built, or on the button, in a
    worker thread with a progress bar and Stop; once per server process), then the temporal
    encoder explorer."""

    autostart = param.Boolean(default=True, doc="Train as soon as the tab is created.")
    n_batches = param.Integer(default=16, bounds=(1, 200),
                              doc="e-prop batches compared with BPTT, per feedback kind.")
    epochs = param.Integer(default=16, bounds=(1, 100),
                           doc="Epochs of each rule in the Manhattan comparison.")

    def __init__(self, **params):
        super().__init__(**params)
        self.train = pn.widgets.Button(label="Train and compare (a few seconds)",
                                       button_type="primary", width=260)
        self.stop = pn.widgets.Button(label="Stop", width=80, disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=self.total, visible=False,
                                               width=300, margin=(15, 10))
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.plots = pn.Column(sizing_mode="stretch_width")
        self.histories: dict[str, list[dict]] = {}
        self.curves: dict[str, list[float]] = {}
        self.encoders = EncoderExplorer()
        self._stop = threading.Event()
        self.worker: threading.Thread | None = None
        self.train.on_click(lambda _: self.start())
        self.stop.on_click(lambda _: self._stop.set())
        if self.autostart:
            self.start()

    @property
    def total(self) -> int:
        """Progress steps of one run: e-prop batches and Manhattan epochs."""
        return len(FEEDBACKS) * self.n_batches + 3 * self.epochs

    def start(self) -> threading.Thread:
        """Train and compare in a worker thread; the plots appear when it is done."""
        on_ui = ui_runner()
        self._stop.clear()
        self.train.disabled, self.stop.disabled = True, False
        self.progress.param.update(value=0, max=self.total, visible=True)
        self.status.object = "Training: e-prop vs BPTT on MNIST-1D, then the Manhattan rule " \
                             "on the digits..."
        done = [0]

        def tick():
            done[0] += 1
            n = done[0]
            on_ui(lambda: setattr(self.progress, "value", min(n, self.progress.max)))

        key = (self.n_batches, self.epochs)

        def work():
            try:
                if key in _FINISHED:
                    hist, curves = _FINISHED[key]
                else:
                    hist = eprop_vs_bptt(key[0], on_batch=tick, stop=self._stop.is_set)
                    curves = manhattan_curves(key[1], on_epoch=tick, stop=self._stop.is_set)
                    if not self._stop.is_set():
                        _FINISHED[key] = (hist, curves)
            except Exception as e:  # noqa: BLE001 - shown in the tab; the session keeps working
                msg = f"**Training failed**: {type(e).__name__}: {escape_text(e)}"
                on_ui(lambda: self._done(None, None, msg))
                return
            on_ui(lambda: self._done(hist, curves, None))

        self.worker = threading.Thread(target=work, daemon=True, name="spikescope-learning")
        self.worker.start()
        return self.worker

    def _done(self, histories, curves, error) -> None:
        self.train.disabled, self.stop.disabled = False, True
        self.progress.visible = False
        if error is not None:
            self.status.object = error
            return
        self.histories, self.curves = histories, curves
        stopped = "Stopped early; what was done so far:\n\n" if self._stop.is_set() else ""
        self.status.object = stopped + rules_summary(histories, curves)
        plots = []
        compared = {k: v for k, v in histories.items() if v}
        if compared:
            plots += [gradient_comparison_plot(compared, parameter="w_in"),
                      gradient_comparison_plot(compared, parameter="w_rec")]
        if any(curves.values()):
            plots.append(training_curve_plot(curves))
        self.plots[:] = [pn.FlexBox(*[pn.pane.HoloViews(p) for p in plots],
                                    sizing_mode="stretch_width")]

    def __panel__(self):
        return pn.Column(
            "## Learning rules", pn.pane.Markdown(LEARNING_HELP, sizing_mode="stretch_width"),
            pn.Row(self.train, self.stop, self.progress), self.status, self.plots,
            pn.layout.Divider(),
            "## Temporal spike encoders",
            "Temporal spike encoders for 1-D signals (Neko 2021): the signal, its signed "
            "spikes and the reconstruction from them, live under the threshold.",
            self.encoders, sizing_mode="stretch_width")
