"""ANN vs converted SNN on jets (Borzyszkowski 2019: ANN 75.2 %, SNN 69.7 % / 69.8 % on Loihi,
the Z class the most confused): :func:`compare` converts the ANN and runs the SNN;
:func:`per_class_change` says in words which classes the SNN loses or gains.

Signed inputs. Standardized features are zero-centred, so about half of them are negative. With
``encoding="analog"`` the input layer is not spiking: the feature vector x is applied as the
constant input current I_1 = W_1 x + b_1 of the first hidden layer at every step (lambda_0 = 1),
so a negative feature is simply an inhibitory contribution and x needs no clipping or offset.
An IF neuron with reset by subtraction then fires at rate ~ clip(ReLU(z_1) / lambda_1, 0, 1)
per step: a net negative current drives V below zero and keeps it there (V is not bounded
below), which is the ReLU's zero. Input operations are counted as ceil(|x|) events times the
fan-out. The "poisson" encoding clips x to [0, 1] and would lose every negative feature, so
:func:`compare` always uses "analog".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..convert import convert
from ..data.jets import CLASS_NAMES, CLASSES
from ..metrics import accuracy, confusion_matrix, row_normalize


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall per true class: diagonal / row sum (NaN for classes without samples)."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / rows, np.nan)


def _label(c: str) -> str:
    return f"{CLASS_NAMES[c]} ({c})" if c in CLASS_NAMES else str(c)


def per_class_change(cm_ann: np.ndarray, cm_snn: np.ndarray,
                     class_names: Sequence[str] = CLASSES, *, tolerance: float = 0.01) -> str:
    """State in words which classes the SNN loses or gains against the ANN.

    Compares per-class accuracy (recall, row-normalized diagonal) of two (C, C) confusion
    matrices (rows = true class); changes within ``tolerance`` (fraction) count as unchanged.
    Also names the overall accuracies and the SNN's most frequent confusion.
    """
    a, s = np.asarray(cm_ann), np.asarray(cm_snn)
    names = list(class_names)
    C = len(names)
    if a.shape != (C, C) or s.shape != (C, C):
        raise ValueError(f"confusion matrices must both be ({C}, {C}) for {C} class names; got "
                         f"{a.shape} and {s.shape}")
    pa, ps = per_class_accuracy(a), per_class_accuracy(s)
    lost, gained, same, empty = [], [], [], []
    for i, c in enumerate(names):
        if np.isnan(pa[i]) or np.isnan(ps[i]):
            empty.append(_label(c))
            continue
        d = ps[i] - pa[i]
        text = f"{_label(c)} {100 * pa[i]:.1f}% -> {100 * ps[i]:.1f}% ({100 * d:+.1f} points)"
        (lost if d < -tolerance else gained if d > tolerance else same).append((d, text))
    out = []
    acc_a = np.trace(a) / max(a.sum(), 1)
    acc_s = np.trace(s) / max(s.sum(), 1)
    out.append(f"Overall accuracy: ANN {100 * acc_a:.1f}%, SNN {100 * acc_s:.1f}% "
               f"({100 * (acc_s - acc_a):+.1f} points).")
    if lost:
        out.append("The SNN loses " + "; ".join(t for _, t in sorted(lost)) + ".")
    if gained:
        out.append("The SNN gains " + "; ".join(t for _, t in sorted(gained, reverse=True))
                   + ".")
    if same:
        out.append(f"Unchanged (within {100 * tolerance:g} points): "
                   + "; ".join(t for _, t in same) + ".")
    if not lost and not gained and same:
        out.append("The SNN matches the ANN on every class.")
    if empty:
        out.append("No samples of " + ", ".join(empty) + ".")
    off = row_normalize(s)
    np.fill_diagonal(off, -1)
    if C > 1 and off.max() > 0:
        i, j = np.unravel_index(int(off.argmax()), off.shape)
        worst = int(np.argmin(np.where(np.isnan(ps), np.inf, ps)))
        out.append(f"The SNN's most frequent confusion: {_label(names[i])} taken for "
                   f"{_label(names[j])} ({100 * off[i, j]:.1f}% of that class); its weakest "
                   f"class is {_label(names[worst])} ({100 * ps[worst]:.1f}%).")
    return " ".join(out)


@dataclass
class JetComparison:
    """ANN vs converted SNN on a set of jets: predictions, confusion matrices, the SNN run."""

    labels: np.ndarray
    ann_pred: np.ndarray
    recording: object  # spikescope.Recording
    net: object  # spikescope.SpikingNetwork
    class_names: tuple[str, ...] = CLASSES

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def timesteps(self) -> int:
        return self.recording.timesteps

    def snn_pred(self, t: int | None = None) -> np.ndarray:
        """SNN predictions after step ``t`` (None = last); -1 = no output spike yet."""
        return self.recording.predictions(t).cpu().numpy()

    @property
    def cm_ann(self) -> np.ndarray:
        return confusion_matrix(self.ann_pred, self.labels, self.n_classes)

    def cm_snn(self, t: int | None = None) -> np.ndarray:
        return confusion_matrix(self.snn_pred(t), self.labels, self.n_classes)

    @property
    def ann_accuracy(self) -> float:
        return accuracy(self.ann_pred, self.labels)

    def snn_accuracy(self, t: int | None = None) -> float:
        return accuracy(self.snn_pred(t), self.labels)

    def accuracy_curve(self) -> np.ndarray:
        """(T,) SNN accuracy after each step."""
        return self.recording.accuracy_curve(torch.as_tensor(self.labels))

    def agreement(self, t: int | None = None) -> float:
        """Fraction of samples where the SNN predicts the ANN's class."""
        return accuracy(self.snn_pred(t), self.ann_pred)

    def words(self, t: int | None = None) -> str:
        """:func:`per_class_change` of the ANN and the SNN at step ``t``."""
        return per_class_change(self.cm_ann, self.cm_snn(t), self.class_names)


def compare(model: nn.Module, x: torch.Tensor, y: torch.Tensor | np.ndarray, *,
            calibration: torch.Tensor, timesteps: int = 100, percentile: float | None = 99.9,
            reset: str = "subtract", progress: bool = False, **convert_options) -> JetComparison:
    """Convert ``model`` (calibrated on ``calibration``) and run ANN and SNN on (x, y).

    The SNN gets the signed, standardized features as a constant analog input current (see
    the module docstring); it records spikes only (no membrane traces) to stay light.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    labels = np.asarray(torch.as_tensor(y).cpu()).astype(np.int64)
    with torch.no_grad():
        ann_pred = model.eval()(x).argmax(1).cpu().numpy()
    net = convert(model, calibration, percentile=percentile, reset=reset, **convert_options)
    rec = net.run(x, timesteps, encoding="analog", record=(), progress=progress)
    n_classes = net.n_classes
    names = CLASSES if n_classes == len(CLASSES) else tuple(str(i) for i in range(n_classes))
    return JetComparison(labels=labels, ann_pred=ann_pred, recording=rec, net=net,
                         class_names=names)
