"""Membrane traces of a session (no Panel imports): which neurons' membranes the membrane view
draws, picked by click, by rate, or by default."""

from __future__ import annotations

import weakref

import numpy as np
import param
import torch

from spikescope.sim.replay import replay_membrane, replayable


class Traces(param.Parameterized):
    """The traced neurons; mixed into :class:`widgets.session.Session`."""

    traces = param.List(default=[], item_type=tuple,
                        doc="Neurons whose membrane is traced, as (layer, flat index).")
    max_traces = param.Integer(default=6, doc="At most this many membrane traces.")

    #: the recording the replayed membranes belong to (weak) and {(layer, neuron): (T,)}
    _replayed: tuple = (None, {})

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
        self.set_traces([x for x in self.traces if x != tr] + [tr])

    def set_traces(self, traces: list[tuple[int, int]]) -> None:
        """Trace exactly the last ``max_traces`` of ``traces``: membranes the run did not record
        are replayed from its spikes (:meth:`membrane_of`), or recorded by running it again
        where its code cannot be replayed (TTFS, pattern, graded spikes)."""
        traces = [(int(l), int(i)) for l, i in traces][-self.max_traces:]
        missing = [tr for tr in traces if self.membrane_of(*tr) is None]
        rerun = bool(missing) and not self._replay(missing, traces)
        self.traces = traces
        if rerun:
            self.recompute()  # membrane limit, no replay: record these membranes too

    def membrane_of(self, layer: int, neuron: int) -> np.ndarray | None:
        """(T,) membrane potential of ``neuron`` of ``layer`` in the current run (sample 0):
        recorded, or replayed from the recorded spikes (:meth:`add_trace`); None if neither."""
        rec = self.recording
        if rec is None or rec.membrane is None or layer >= len(rec.membrane):
            return None
        pos = (rec.membrane_neurons[layer] == neuron).nonzero()
        if len(pos):
            return rec.membrane[layer][:, 0, int(pos[0, 0])].cpu().numpy()
        owner, replayed = self._replayed
        return replayed.get((layer, neuron)) if owner is not None and owner() is rec else None

    def _replay(self, missing: list[tuple[int, int]], traces: list[tuple[int, int]]) -> bool:
        """Recompute the membranes of ``missing`` from the recorded spikes
        (:func:`spikescope.sim.replay.replay_membrane`: milliseconds, not a re-run) and keep
        those of ``traces``. False where the run cannot be replayed."""
        rec = self.recording
        if rec is None or rec.spike_trains is None or self.inputs is None \
                or not replayable(self.net):
            return False
        owner, replayed = self._replayed
        replayed = {k: v for k, v in replayed.items() if k in set(traces)} \
            if owner is not None and owner() is rec else {}
        for layer in sorted({l for l, _ in missing}):
            idx = [i for l, i in missing if l == layer]
            v = replay_membrane(self.net, rec, self.inputs, layer, idx)[:, 0].cpu().numpy()
            replayed.update({(layer, i): v[:, k] for k, i in enumerate(idx)})
        self._replayed = (weakref.ref(rec), replayed)
        return True

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
