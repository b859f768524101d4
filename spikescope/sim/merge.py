"""Merge the recordings of one test set run in batches into one :class:`Recording`."""

from __future__ import annotations

from collections.abc import Sequence

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
