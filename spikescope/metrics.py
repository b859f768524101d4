"""Measures of a converted network: ANN operation counts, confusion, ANN-SNN agreement."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .convert.parse import parse
from .sim import graph
from .sim.stages import fan_in


def ann_ops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Operations of one ANN inference, eq. 2.21: sum_l (2 f_in,l + 1) n_l.

    f_in is each neuron's exact fan-in (kernel size x input channels for convolutions, fewer
    at padded borders); the +1 is the bias add (counted where the layer has a non-zero bias,
    e.g. after BatchNorm folding); pooling is not counted (thesis Sec. 2.1.2.5).
    """
    total = 0
    for s in _parse(model, input_shape):
        bias = 1 if bool((s.bias != 0).any()) else 0
        total += int((2 * fan_in(s) + bias).sum())
    return total


def fan_outs(model: nn.Module, input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    """Exact fan-out of the input and of every stage but the output (flat, per neuron)."""
    stages = _parse(model, input_shape)
    inputs, outs = graph.fan_outs(stages)
    return [inputs, *outs[:-1]]


def _parse(model: nn.Module, input_shape: tuple[int, ...]) -> list:
    """The model's stages, parsed from a copy (the caller's model keeps its mode and device)."""
    return parse(copy.deepcopy(model).eval().cpu(), tuple(input_shape))


def accuracy(pred, labels) -> float:
    """Fraction of ``pred`` equal to ``labels``; ``pred`` may be class indices (B,) or scores
    (B, C), of which the argmax is taken. A prediction of -1 (undecided) counts as wrong."""
    pred, labels = torch.as_tensor(pred), torch.as_tensor(labels)
    if pred.dim() == labels.dim() + 1:
        pred = pred.argmax(-1)
    return float((pred.cpu() == labels.cpu()).float().mean())


@torch.no_grad()
def model_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model``'s argmax on ``x`` against ``y``; the model's train/eval mode is
    left as it was (evaluated in eval mode)."""
    was_training = model.training
    try:
        return accuracy(model.eval()(x), y)
    finally:
        model.train(was_training)


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Confusion matrix with each row divided by its sum (the share of each true class given
    each answer); rows with no samples stay 0."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def confusion_matrix(pred, labels, n_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class.

    Predictions of -1 (no output spike) are not counted in any column.
    """
    pred = np.asarray(torch.as_tensor(pred).cpu()).astype(np.int64).ravel()
    labels = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).ravel()
    if pred.shape != labels.shape:
        raise ValueError(f"{pred.shape[0]} predictions for {labels.shape[0]} labels")
    ok = (pred >= 0) & (pred < n_classes)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels[ok], pred[ok]), 1)
    return cm


def activation_correlation(net, model: nn.Module, x: torch.Tensor, rec) -> list[float]:
    """Pearson correlation per layer between normalized ANN activations and SNN rates.

    ANN activations of ``model`` on ``x`` are divided by the network's lambdas (the rates the
    SNN should reach, in spikes per step); SNN rates are ``rec.spike_counts / T``.
    """
    acts = graph.stage_activations(_parse(model, net.input_shape), x.float().cpu())
    out = []
    for l, (a, lam) in enumerate(zip(acts, net.lambdas)):
        target = (a / lam).reshape(-1).double()
        rate = (rec.spike_counts[l].float().cpu() / rec.timesteps).reshape(-1).double()
        if target.std() == 0 or rate.std() == 0:
            out.append(float("nan"))
        else:
            out.append(float(torch.corrcoef(torch.stack([target, rate]))[0, 1]))
    return out
