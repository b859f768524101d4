"""Evaluation of a session's network over the test set (no Panel imports): a background
thread runs ANN and SNN, the :class:`Evaluation` result feeds the evaluation and energy tabs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param
import torch

from spikescope import energy, zoo
from spikescope.metrics import confusion_matrix
from spikescope.sim.merge import merge_recordings
from spikescope.sim.recording import Recording

from .catalog import CALIBRATION_SIZE, convert_network, is_trained_snn


def platform_names() -> list[str]:
    """Names of the neuromorphic platforms in ``spikescope.energy.PLATFORMS``."""
    return [n for n, p in energy.PLATFORMS.items()
            if getattr(p, "kind", "neuromorphic") == "neuromorphic"]


@dataclass
class Evaluation:
    """Result of running ANN and SNN over a test set: everything the evaluation tab draws."""

    n_samples: int
    n_classes: int
    ann_confusion: np.ndarray  # (C, C) counts, row = true class
    snn_confusion: np.ndarray
    ann_accuracy: float
    accuracy_curve: np.ndarray  # (T,) SNN accuracy after each step
    synaptic_ops: np.ndarray  # (T,) cumulative synaptic operations per sample
    dt_ms: float
    recording: Recording | None = None  # the whole test set run (no spike trains)
    labels: torch.Tensor | None = None


class Evaluator(param.Parameterized):
    """The test-set evaluation and its energy trade-off; mixed into
    :class:`widgets.session.Session`."""

    eval_samples = param.Integer(default=360, bounds=(10, None),
                                 doc="Test samples used by the evaluation.")
    eval_progress = param.Number(default=0.0, bounds=(0, 1), doc="Evaluation progress, 0..1.")
    eval_running = param.Boolean(default=False, doc="True while the evaluation runs.")
    evaluation = param.Parameter(default=None, doc="Latest Evaluation result (or None).")
    platform = param.Selector(default=None, objects=[], allow_None=True,
                              doc="Neuromorphic platform for energy figures.")

    def _init_evaluation(self) -> None:
        self._cancel = threading.Event()
        self._eval_thread: threading.Thread | None = None

    def evaluate(self, *, blocking: bool = False,
                 on_done: Callable[[Callable[[], None]], None] | None = None,
                 batch_size: int = 60) -> None:
        """Run ANN and SNN over the first ``eval_samples`` test samples.

        Off the caller's thread unless ``blocking``; ``cancel_evaluation`` stops it. The result
        lands in ``evaluation``; ``on_done(fn)`` (e.g. ``widgets.uithread.ui_runner()``) is
        used to apply parameter updates on the UI thread.
        """
        if self.eval_running:
            return
        key = self.network_key()
        enc = self.encoding
        T = int(self.timesteps)
        n = min(self.eval_samples, self.n_samples)
        self._cancel.clear()
        self.eval_progress = 0.0
        self.eval_running = True
        apply = on_done or (lambda fn: fn())

        def work():
            try:
                result = self._evaluate(key, enc, T, n, batch_size, apply)
            except Exception as e:  # shown to the user
                msg = f"evaluation failed: {type(e).__name__}: {e}"
                apply(lambda: self.param.update(error=msg, eval_running=False))
                return
            apply(lambda: self.param.update(evaluation=result if result else self.evaluation,
                                            eval_running=False,
                                            eval_progress=1.0 if result else
                                            self.eval_progress))

        if blocking:
            work()
        else:
            self._eval_thread = threading.Thread(target=work, daemon=True, name="evaluation")
            self._eval_thread.start()

    def cancel_evaluation(self) -> None:
        """Stop a running evaluation after its current batch (the last result stays)."""
        self._cancel.set()

    def _evaluate(self, key, enc, T, n, batch_size, apply) -> Evaluation | None:
        model, dataset = key[:2]
        x, y = self._dataset(dataset, "test")
        x, y = x[:n], y[:n]
        if model in zoo.names() and zoo.task_of(model) != "classification":
            raise ValueError(f"{model} reconstructs images, the evaluation scores classifiers "
                             f"(its test MSE and SSIM are in zoo.info / zoo.snn_info; the "
                             f"Simulation tab shows the SNN's beside the ANN's)")
        if is_trained_snn(model):
            ann, net = None, zoo.load_network(model)  # its own instance: runs in this thread
        else:
            ann = self.uploads[model] if model in self.uploads else zoo.load(model)
            xtr, _ = self._dataset(dataset, "train")
            net = convert_network(ann, xtr[:CALIBRATION_SIZE] if enc != "events" else
                                  xtr[:CALIBRATION_SIZE].mean(1), key)
        recs = []
        for start in range(0, n, batch_size):
            if self._cancel.is_set():
                return None
            xb = x[start:start + batch_size]
            if enc == "events":
                xb = xb.transpose(0, 1)
                if T > len(xb):  # the recordings are over: no more events
                    xb = torch.cat([xb, xb.new_zeros((T - len(xb), *xb.shape[1:]))])
            rec = net.run(xb, T, encoding=enc, record=())
            recs.append(rec)
            done = min(start + batch_size, n) / n
            apply(lambda d=done: setattr(self, "eval_progress", d))
        rec = merge_recordings(recs)
        pred = rec.all_predictions().cpu()  # (T, n)
        static = x if enc != "events" else x.mean(1)
        with torch.no_grad():
            # a trained SNN has no ANN: the reference is the SNN's own answer at T
            ann_pred = ann(static).argmax(1) if ann is not None else pred[-1]
        C = net.n_classes
        return Evaluation(
            n_samples=n, n_classes=C,
            ann_confusion=confusion_matrix(ann_pred, y, C),
            snn_confusion=confusion_matrix(pred[-1], y, C),
            ann_accuracy=float((ann_pred == y).float().mean()),
            accuracy_curve=(pred == y[None]).float().mean(1).numpy(),
            synaptic_ops=rec.synaptic_ops.cpu().numpy(),
            dt_ms=net.dt_ms, recording=rec, labels=y,
        )

    def tradeoff(self, platform: str | None = None) -> pd.DataFrame | None:
        """Accuracy, synaptic ops, energy, delay and EDP per t of the last evaluation on
        ``platform`` (``spikescope.energy.tradeoff``); None without a result or platform."""
        ev = self.evaluation
        platform = platform or self.platform
        if ev is None or ev.recording is None or platform is None:
            return None
        return energy.tradeoff(ev.recording, ev.labels, platform)
