"""A test set run in batches: its recordings merged into one :class:`Recording`
(:func:`merge_recordings`), or only the per-step totals that curves need (:class:`RunTotals`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .recording import Recording


def merge_recordings(recs: Sequence[Recording]) -> Recording:
    """One :class:`Recording` of a data set run in batches, batch after batch.

    Per-sample fields (spike counts, output counts and potential, spikes per layer) are
    concatenated along the batch axis; ``layer_ops`` (a batch mean) becomes the mean over all
    samples, each batch weighted by its size. Spike trains and membranes are dropped (an
    evaluation runs with ``record=()``); names, ``dt_ms`` and ``readout`` come from the first.

    Args:
        recs: recordings of the same network and T, one per batch (at least one).

    Raises:
        ValueError: ``recs`` is empty.
    """
    if not recs:
        raise ValueError("merge_recordings needs at least one recording")
    sizes = torch.tensor([r.batch_size for r in recs], dtype=torch.float64)
    ops = torch.stack([r.layer_ops.double() for r in recs])  # (n, T, L+1) batch means
    first = recs[0]
    return Recording(
        layer_names=list(first.layer_names),
        spike_counts=[torch.cat([r.spike_counts[l] for r in recs])
                      for l in range(len(first.spike_counts))],
        output_counts=torch.cat([r.output_counts for r in recs], 1),
        output_potential=torch.cat([r.output_potential for r in recs], 1),
        layer_spikes=torch.cat([r.layer_spikes for r in recs], 1),
        layer_ops=((ops * sizes[:, None, None]).sum(0) / sizes.sum()).float(),
        dt_ms=first.dt_ms, readout=first.readout)


class RunTotals:
    """Per-step totals of a data set run in batches, kept without the batches' recordings.

    What accuracy and cost curves need, in O(T + samples) memory whatever the network's size
    (a merged :class:`Recording` keeps every sample's spike count per neuron):
    ``accuracy_curve(labels)``, ``synaptic_ops`` (eq. 2.22), ``spikes`` and the predictions at
    the last step are those of :func:`merge_recordings` of the same batches.

    Example::

        totals = RunTotals()
        for xb, yb in batches:
            totals.add(net.run(xb, T, record=()), yb)
        curve = totals.accuracy_curve()
    """

    def __init__(self) -> None:
        self.n_samples = 0
        self.dt_ms = 1.0
        self._correct: torch.Tensor | None = None  # (T,) samples right after each step
        self._ops: torch.Tensor | None = None  # (T,) sum over samples of ops per step
        self._spikes: torch.Tensor | None = None  # (T,) sum over samples of spikes per step
        self._final: list[torch.Tensor] = []  # (B,) predictions at the last step per batch

    def add(self, rec: Recording, labels: torch.Tensor) -> None:
        """Count one batch's recording ``rec`` of samples with true classes ``labels`` (B,)."""
        labels = torch.as_tensor(labels).reshape(-1).cpu()
        if len(labels) != rec.batch_size:
            raise ValueError(f"{len(labels)} labels for a batch of {rec.batch_size} samples")
        if self._correct is not None and rec.timesteps != len(self._correct):
            raise ValueError(f"a batch of T = {rec.timesteps} steps added to totals of "
                             f"T = {len(self._correct)}")
        pred = rec.all_predictions().cpu()  # (T, B)
        b = rec.batch_size
        correct = (pred == labels[None]).sum(1).double()
        ops = rec.layer_ops.double().sum(1).cpu() * b  # a batch mean -> the batch's sum
        spikes = rec.layer_spikes.double().sum((1, 2)).cpu()
        if self._correct is None:
            self._correct, self._ops, self._spikes = correct, ops, spikes
            self.dt_ms = rec.dt_ms
        else:
            self._correct += correct
            self._ops += ops
            self._spikes += spikes
        self._final.append(pred[-1])
        self.n_samples += b

    def _mean(self, per_step: torch.Tensor | None) -> np.ndarray:
        if per_step is None:
            raise ValueError("RunTotals holds no batch yet")
        return per_step.numpy() / self.n_samples

    def accuracy_curve(self) -> np.ndarray:
        """(T,) fraction of samples classified correctly after each step."""
        return self._mean(self._correct)

    @property
    def synaptic_ops(self) -> np.ndarray:
        """(T,) cumulative synaptic operations per sample (eq. 2.22), mean over samples."""
        return self._mean(self._ops).cumsum()

    @property
    def spikes(self) -> np.ndarray:
        """(T,) cumulative spikes of all layers per sample, mean over samples."""
        return self._mean(self._spikes).cumsum()

    @property
    def predictions(self) -> torch.Tensor:
        """(n,) predicted class of every sample after the last step (-1: no output spike)."""
        if not self._final:
            raise ValueError("RunTotals holds no batch yet")
        return torch.cat(self._final)
