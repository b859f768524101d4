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
from spikescope.sim.merge import RunTotals

from .catalog import (
    BUDGET_HINT,
    CALIBRATION_SIZE,
    EVAL_BATCH,
    EVAL_BYTES_PER_NEURON,
    SESSION_MEMORY_BYTES,
    convert_network,
    is_trained_snn,
    release_memory,
)


def platform_names() -> list[str]:
    """Names of the neuromorphic platforms in ``spikescope.energy.PLATFORMS``."""
    return [n for n, p in energy.PLATFORMS.items()
            if getattr(p, "kind", "neuromorphic") == "neuromorphic"]


@dataclass
class Evaluation:
    """Result of running ANN and SNN over a test set: everything the evaluation and energy
    tabs draw, as curves and counts (O(T + samples) memory, whatever the network's size)."""

    n_samples: int
    n_classes: int
    ann_confusion: np.ndarray  # (C, C) counts, row = true class
    snn_confusion: np.ndarray
    ann_accuracy: float
    accuracy_curve: np.ndarray  # (T,) SNN accuracy after each step
    synaptic_ops: np.ndarray  # (T,) cumulative synaptic operations per sample
    spikes: np.ndarray  # (T,) cumulative spikes per sample
    dt_ms: float
    labels: torch.Tensor | None = None  # (n,) true classes of the samples evaluated
    #: lead k -> per-sample arrays of the early-decision policy (energy.decision_samples);
    #: None for a membrane readout (no spike lead to decide on)
    early: dict[int, dict[str, np.ndarray]] | None = None


#: Leads k (output spikes ahead of the runner-up) of the early-decision policy.
EARLY_KS = (1, 2, 3, 5, 8, 13, 20)


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

    #: Bytes this session may hold (caches, runs, an evaluation's batch); see
    #: ``widgets.catalog.SESSION_MEMORY_BYTES``.
    memory_budget: int = SESSION_MEMORY_BYTES

    def _init_evaluation(self) -> None:
        self._cancel = threading.Event()
        self._eval_thread: threading.Thread | None = None
        self._closed = False  # set by Session.close: a finishing thread applies nothing

    def evaluate(self, *, blocking: bool = False,
                 on_done: Callable[[Callable[[], None]], None] | None = None,
                 batch_size: int | None = None) -> None:
        """Run ANN and SNN over the first ``eval_samples`` test samples.

        Off the caller's thread unless ``blocking``; ``cancel_evaluation`` stops it. The result
        lands in ``evaluation``; ``on_done(fn)`` (e.g. ``widgets.uithread.ui_runner()``) is
        used to apply parameter updates on the UI thread. Batches of ``batch_size`` samples
        (default: :meth:`eval_batch_size`); an evaluation that does not fit one sample at a
        time in the session's memory budget is refused with a message in ``error``.
        """
        if self.eval_running:
            return
        key = self.network_key()
        enc = self.encoding
        T = int(self.timesteps)
        n = min(self.eval_samples, self.n_samples)
        if batch_size is None:
            try:
                batch_size = self.eval_batch_size()
            except MemoryError as e:
                self.error = str(e)
                return
        self._cancel.clear()
        self.eval_progress = 0.0
        self.eval_running = True
        apply = on_done or (lambda fn: fn())

        def work():
            try:
                result = self._evaluate(key, enc, T, n, batch_size, apply)
            except Exception as e:  # shown to the user
                msg = f"evaluation failed: {type(e).__name__}: {e}"
                result = None
                update = {"error": msg, "eval_running": False}
            else:
                update = {"evaluation": result if result else self.evaluation,
                          "eval_running": False,
                          "eval_progress": 1.0 if result else self.eval_progress}
            finally:
                release_memory()  # the batches' working memory back to the system
            if not self._closed:
                apply(lambda: self.param.update(**update))

        if blocking:
            work()
        else:
            self._eval_thread = threading.Thread(target=work, daemon=True, name="evaluation")
            self._eval_thread.start()

    def cancel_evaluation(self) -> None:
        """Stop a running evaluation after its current batch (the last result stays)."""
        self._cancel.set()

    def eval_batch_size(self) -> int:
        """Samples per evaluation batch: ``EVAL_BATCH``, or fewer so that the batch's working
        memory (``EVAL_BYTES_PER_NEURON`` per neuron and sample) fits in what is left of the
        session's ``memory_budget`` after what it holds (``memory_bytes()``).

        Raises:
            MemoryError: not even one sample fits; the message says what to change.
        """
        net, _ = self.network()
        neurons = sum(net.n_neurons)
        left = self.memory_budget - self.memory_bytes()
        fit = left // (neurons * EVAL_BYTES_PER_NEURON)
        if fit < 1:
            raise MemoryError(
                f"evaluating this {neurons:,}-neuron network needs about "
                f"{neurons * EVAL_BYTES_PER_NEURON / 2**20:.0f} MB per test sample; this "
                f"session has {max(left, 0) / 2**20:.0f} MB left of its "
                f"{self.memory_budget / 2**20:.0f} MB budget; {BUDGET_HINT})")
        return int(min(EVAL_BATCH, fit))

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
        totals = RunTotals()  # per-step totals only: memory independent of samples x neurons
        early: dict | None = {k: [] for k in EARLY_KS} if net.readout == "spikes" else None
        for start in range(0, n, batch_size):
            if self._cancel.is_set():
                return None
            xb = x[start:start + batch_size]
            if enc == "events":
                xb = xb.transpose(0, 1)
                if T > len(xb):  # the recordings are over: no more events
                    xb = torch.cat([xb, xb.new_zeros((T - len(xb), *xb.shape[1:]))])
            rec = net.run(xb, T, encoding=enc, record=())
            yb = y[start:start + batch_size]
            totals.add(rec, yb)
            if rec.readout != "spikes":
                early = None
            if early is not None:  # 8 bytes per sample and k
                for k, d in energy.decision_samples(rec, yb, EARLY_KS).items():
                    early[k].append(dict(d, stop=d["stop"].astype(np.int16),
                                         ops=d["ops"].astype(np.float32)))
            del rec
            done = min(start + batch_size, n) / n
            apply(lambda d=done: setattr(self, "eval_progress", d))
        pred = totals.predictions
        static = x if enc != "events" else x.mean(1)
        with torch.no_grad():
            # a trained SNN has no ANN: the reference is the SNN's own answer at T
            ann_pred = ann(static).argmax(1) if ann is not None else pred
        C = net.n_classes
        return Evaluation(
            n_samples=n, n_classes=C,
            ann_confusion=confusion_matrix(ann_pred, y, C),
            snn_confusion=confusion_matrix(pred, y, C),
            ann_accuracy=float((ann_pred == y).float().mean()),
            accuracy_curve=totals.accuracy_curve().astype(np.float32),
            synaptic_ops=totals.synaptic_ops.astype(np.float32),
            spikes=totals.spikes, dt_ms=net.dt_ms, labels=y.clone(),
            early=None if early is None else {
                k: {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
                for k, parts in early.items()},
        )

    def tradeoff(self, platform: str | None = None) -> pd.DataFrame | None:
        """Accuracy, synaptic ops, energy, delay and EDP per t of the last evaluation on
        ``platform`` (``spikescope.energy.tradeoff_curves``); None without a result or
        platform."""
        ev = self.evaluation
        platform = platform or self.platform
        if ev is None or platform is None:
            return None
        return energy.tradeoff_curves(ev.accuracy_curve, ev.synaptic_ops, ev.spikes, ev.dt_ms,
                                      platform)

    def early_decision(self, platform: str | None = None) -> pd.DataFrame | None:
        """The early-decision policy of the last evaluation on ``platform``: one row per lead
        k (``spikescope.energy.early_decision_curve``'s columns); None without a result, a
        platform, or a spike readout."""
        ev = self.evaluation
        platform = platform or self.platform
        if ev is None or platform is None or not ev.early:
            return None
        return pd.DataFrame([energy.decision_summary(s, k, ev.dt_ms, platform)
                             for k, s in ev.early.items()])
