"""The recorder: both simulation paths append to it, and it makes the :class:`Recording`.

Stepping appends one step at a time (:meth:`Recorder.add_layer_step`); the layer-by-layer
path one layer over a block of steps at a time (:meth:`Recorder.add_layer_run`). Either way
the data are kept as chunks of steps, concatenated once when the recording is read. What
grows with the number of steps is what was asked for (spike trains, membranes of the chosen
neurons) plus, always, the output layer's counts and potential and the per-layer spike and
operation totals: :meth:`Recorder.bytes_per_step` counts it, before a run, for the budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..neurons import LayerRun
from .recording import Recording

RECORDABLE = ("spikes", "membrane")


class Recorder:
    """Collects a run's spikes, membranes, counts and operations.

    layer_names / n_neurons: per spiking layer; record: subset of ("spikes", "membrane");
    membrane_neurons: per layer the flat indices whose membrane to keep (None: not recorded).
    """

    def __init__(self, layer_names: Sequence[str], n_neurons: Sequence[int], batch: int, *,
                 record: Sequence[str], membrane_neurons: list[torch.Tensor] | None,
                 device: torch.device, dt_ms: float, readout: str) -> None:
        self.layer_names, self.n_neurons = list(layer_names), list(n_neurons)
        self.batch, self.record, self.device = batch, tuple(record), device
        self.membrane_neurons, self.dt_ms, self.readout = membrane_neurons, dt_ms, readout
        L = len(self.n_neurons)
        self.counts = [torch.zeros(batch, n, device=device) for n in self.n_neurons]
        self.t = 0
        self._trains: list[list[torch.Tensor]] = [[] for _ in range(L)]
        self._mem: list[list[torch.Tensor]] = [[] for _ in range(L)]
        self._out_counts: list[torch.Tensor] = []
        self._out_v: list[torch.Tensor] = []
        self._layer_stats: list[torch.Tensor] = []
        self._input_ops: list[torch.Tensor] = []
        self._step_stats: list[torch.Tensor] = []

    def wants_membrane(self, l: int) -> bool:
        """Whether layer l's membrane is recorded (for some neurons)."""
        return self.membrane_neurons is not None and len(self.membrane_neurons[l]) > 0

    # ----------------------------------------------------------------- stepping
    def add_layer_step(self, l: int, spikes: torch.Tensor, v: torch.Tensor,
                       stats: torch.Tensor) -> None:
        """Layer l's spikes (B, N) and membrane (B, N) after this step; ``stats`` (B, 2):
        spikes and synaptic operations per sample."""
        self.counts[l].add_(spikes)
        self._step_stats.append(stats)
        if "spikes" in self.record:
            self._trains[l].append((spikes > 0)[None])
        if self.wants_membrane(l):
            self._mem[l].append(v[None][..., self.membrane_neurons[l]])
        if l == len(self.n_neurons) - 1:
            self._out_counts.append(self.counts[l].clone()[None])
            self._out_v.append(v[None].clone())

    def end_step(self, input_ops: torch.Tensor) -> None:
        """Close a step: ``input_ops`` () the operations the input caused (batch mean)."""
        self._layer_stats.append(torch.stack(self._step_stats, 1)[None])  # (1, B, L, 2)
        self._step_stats = []
        self._input_ops.append(input_ops.reshape(1))
        self.t += 1

    # ----------------------------------------------------------------- layer by layer
    def add_layer_run(self, l: int, run: LayerRun) -> None:
        """Layer l over the next k steps of the run (one block of the layer-by-layer path,
        or all of it): appended after the steps recorded so far."""
        k = len(run.spikes)
        spikes = run.spikes.reshape(k, self.batch, -1)
        if l == len(self.n_neurons) - 1:
            # integer counts: the running sum equals adding step by step, bit for bit
            self._out_counts.append(spikes.cumsum(0) + self.counts[l])
            self._out_v.append(run.membrane)
        self.counts[l].add_(run.counts)
        self._step_stats.append(run.stats)
        if "spikes" in self.record:
            self._trains[l].append(spikes > 0)
        if self.wants_membrane(l):
            self._mem[l].append(run.membrane[..., self.membrane_neurons[l]])

    def end_run(self, input_ops: torch.Tensor) -> None:
        """Close a block of the layer-by-layer path: ``input_ops`` (k,) per step."""
        self._layer_stats.append(torch.stack(self._step_stats, 2))  # (k, B, L, 2)
        self._step_stats = []
        self._input_ops.append(input_ops)
        self.t += len(input_ops)

    # ----------------------------------------------------------------- result
    @staticmethod
    def bytes_per_step(n_neurons: Sequence[int], record: Sequence[str],
                       membrane_count: int) -> int:
        """Bytes the recorder keeps per step and sample: spike trains (1 byte per neuron) and
        the ``membrane_count`` chosen membranes (4 bytes each) when recorded, and always the
        output layer's counts and potential and each layer's spikes and operations (4 bytes
        each). (Joining them into a :class:`Recording` copies one layer at a time.)"""
        n = 8 * n_neurons[-1] + 8 * len(n_neurons)
        if "spikes" in record:
            n += sum(n_neurons)
        if "membrane" in record:
            n += 4 * membrane_count
        return n

    def recording(self) -> Recording:
        """The :class:`Recording` of everything recorded so far."""
        if self.t == 0:
            raise RuntimeError("nothing recorded yet: call reset() and step() or run()")
        stats = _joined(self._layer_stats)  # (T, B, L, 2)
        layer_ops = torch.cat([_joined(self._input_ops)[:, None], stats[..., 1].mean(1)], 1)
        mem = None
        if self.membrane_neurons is not None:
            mem = [_joined(m) if m else
                   torch.zeros(self.t, self.batch, 0, device=self.device) for m in self._mem]
        return Recording(
            layer_names=self.layer_names,
            spike_counts=[c.round().to(torch.int32) for c in self.counts],
            output_counts=_joined(self._out_counts).round().to(torch.int32),
            output_potential=_joined(self._out_v),
            layer_spikes=stats[..., 0].round().to(torch.int32),
            layer_ops=layer_ops,
            spike_trains=([_joined(t) for t in self._trains] if "spikes" in self.record
                          else None),
            membrane=mem,
            membrane_neurons=self.membrane_neurons,
            dt_ms=self.dt_ms,
            readout=self.readout,
        )


def _joined(chunks: list[torch.Tensor]) -> torch.Tensor:
    """The chunks of steps as one tensor, kept as the only chunk: joined once, and the pieces
    freed as each is joined (the peak is one layer's copy, not the whole recording's)."""
    if len(chunks) != 1:
        chunks[:] = [torch.cat(chunks)]
    return chunks[0]
