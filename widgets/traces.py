"""Membrane traces of a session (no Panel imports): which neurons' membranes the membrane view
draws, picked by click, by rate, or by default."""

from __future__ import annotations

import numpy as np
import param
import torch


class Traces(param.Parameterized):
    """The traced neurons; mixed into :class:`widgets.session.Session`."""

    traces = param.List(default=[], item_type=tuple,
                        doc="Neurons whose membrane is traced, as (layer, flat index).")
    max_traces = param.Integer(default=6, doc="At most this many membrane traces.")

    def _recorded(self, layer: int) -> set | None:
        """Neurons of ``layer`` whose membrane is recorded (None = all)."""
        idx = getattr(self.recording, "membrane_neurons", None)
        if idx is None or self.recording.membrane is None:
            return None
        return set(idx[layer].tolist())

    def default_traces(self) -> list[tuple[int, int]]:
        """The most active neuron of the last hidden layer and the output of the ANN's class
        (among recorded membranes)."""
        rec = self.recording
        out = []
        L = len(rec.spike_counts)
        if L > 1:
            l = L - 2
            counts = rec.spike_counts[l][0].float().clone()
            keep = self._recorded(l)
            if keep is not None:
                mask = torch.full_like(counts, -1.0)
                mask[sorted(keep)] = 0.0
                counts = torch.where(mask == 0, counts, mask)
            out.append((l, int(counts.argmax())))
        c = int(self.ann_output.argmax())
        keep = self._recorded(L - 1)
        if keep is None or c in keep:
            out.append((L - 1, c))
        return out

    def add_trace(self, layer: int, neuron: int) -> None:
        """Trace the membrane of ``neuron`` (flat index) of ``layer``; oldest trace drops out."""
        if self.net is None:
            return
        if not (0 <= layer < len(self.net.n_neurons)) or not (
                0 <= neuron < self.net.n_neurons[layer]):
            self.error = f"no neuron {neuron} in layer {layer}"
            return
        tr = (int(layer), int(neuron))
        traces = [x for x in self.traces if x != tr] + [tr]
        self.traces = traces[-self.max_traces:]
        keep = self._recorded(tr[0])
        if keep is not None and tr[1] not in keep:
            self.recompute()  # membrane limit: record this neuron's membrane too

    def trace_by_rate(self, layer: int, which: str = "max") -> None:
        """Add the neuron of ``layer`` with the highest (``max``) or median rate so far."""
        counts = self.counts_at(self.t or self.timesteps)[layer]
        if which == "max":
            idx = int(counts.argmax())
        else:
            active = np.flatnonzero(counts > 0)
            idx = int(active[np.argsort(counts[active])[len(active) // 2]]) if len(active) \
                else 0
        self.add_trace(layer, idx)
