"""What a simulation run recorded: spikes, membrane potentials, output evidence, operations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Recording:
    """Result of ``SpikingNetwork.run`` (or of ``reset``/``step`` so far). Time-major.

    Attributes:
        layer_names: one name per spiking layer.
        spike_counts: per layer, int tensor (B, N): spikes per neuron over the run.
        spike_trains: per layer, bool tensor (T, B, N) (graded spikes: > 0), or None.
        membrane: per layer, float tensor (T, B, n) of the chosen neurons (all if none chosen),
            or None if not recorded.
        membrane_neurons: per layer, the flat indices of the neurons in ``membrane``.
        output_counts: (T, B, C) cumulative output spikes.
        output_potential: (T, B, C) output membrane potential (after reset).
        layer_spikes: (T, B, L) spikes emitted per layer per step.
        layer_ops: (T, L + 1) synaptic operations per step caused by the input (column 0) and
            by each layer's spikes, batch mean.
        synaptic_ops: (T,) cumulative synaptic operations per sample (batch mean), eq. 2.22.
        dt_ms: duration of one step in ms. readout: "spikes" or "membrane".
    """

    layer_names: list[str]
    spike_counts: list[torch.Tensor]
    output_counts: torch.Tensor
    output_potential: torch.Tensor
    layer_spikes: torch.Tensor
    layer_ops: torch.Tensor
    spike_trains: list[torch.Tensor] | None = None
    membrane: list[torch.Tensor] | None = None
    membrane_neurons: list[torch.Tensor] | None = None
    dt_ms: float = 1.0
    readout: str = "spikes"
    extras: dict = field(default_factory=dict)

    @property
    def timesteps(self) -> int:
        return int(self.output_counts.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.output_counts.shape[1])

    @property
    def synaptic_ops(self) -> torch.Tensor:
        """(T,) cumulative synaptic operations per sample (eq. 2.22), batch mean."""
        return self.layer_ops.sum(1).cumsum(0)

    @property
    def total_spikes(self) -> torch.Tensor:
        """(B,) spikes emitted by all layers over the run, per sample."""
        return self.layer_spikes.sum((0, 2))

    def rates_hz(self, layer: int) -> torch.Tensor:
        """(B, N) firing rates of ``layer`` in Hz over the whole run."""
        return self.spike_counts[layer].float() / (self.timesteps * self.dt_ms * 1e-3)

    def predictions(self, t: int | None = None) -> torch.Tensor:
        """(B,) predicted class after step ``t`` (0-based; None = last step).

        Readout by spike count: argmax of the cumulative output spikes; a sample with no
        output spike yet gets -1 (counted as wrong). Membrane readout: argmax of the output
        potential.
        """
        t = self.timesteps - 1 if t is None else t
        if self.readout == "membrane":
            return self.output_potential[t].argmax(1)
        counts = self.output_counts[t]
        pred = counts.argmax(1)
        return torch.where(counts.amax(1) > 0, pred, torch.full_like(pred, -1))

    def all_predictions(self) -> torch.Tensor:
        """(T, B) predictions at every step (same rules as :meth:`predictions`)."""
        if self.readout == "membrane":
            return self.output_potential.argmax(2)
        pred = self.output_counts.argmax(2)
        return torch.where(self.output_counts.amax(2) > 0, pred, torch.full_like(pred, -1))

    def accuracy_curve(self, labels: torch.Tensor) -> np.ndarray:
        """(T,) fraction of samples classified correctly after each step."""
        labels = torch.as_tensor(labels, device=self.output_counts.device).reshape(1, -1)
        return (self.all_predictions() == labels).float().mean(1).cpu().numpy()

    def summary(self) -> dict:
        """Plain numbers describing the run (for export and display)."""
        return {
            "timesteps": self.timesteps,
            "batch_size": self.batch_size,
            "dt_ms": self.dt_ms,
            "layers": list(self.layer_names),
            "spikes_per_sample": float(self.total_spikes.float().mean()),
            "synaptic_ops_per_sample": float(self.synaptic_ops[-1]) if self.timesteps else 0.0,
            "mean_rate_hz": [float(self.rates_hz(l).mean()) for l in range(len(self.layer_names))],
        }
