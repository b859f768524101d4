"""SpikingNetwork: a converted network of IF/LIF neurons, stepped in time.

Zero-delay propagation (as in the SNN Toolbox's simulator): within one time step, layer l
integrates the spikes that layer l-1 emitted in that same step, so a spike can cross the whole
network in one step. Biases are a constant input current b_l / lambda_l per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..codes.encoders import encode
from ..neurons import NeuronParams, NeuronState, if_step, init_state
from . import layerwise
from .exact import exact_stages
from .recording import Recording
from .stages import Stage, avg_pool, fan_out, stage_activations

RECORDABLE = ("spikes", "membrane")
READOUTS = ("spikes", "membrane")


class SpikingNetwork:
    """A rate-coded spiking network made by :func:`spikescope.convert`.

    Attributes:
        stages: the spiking layers (normalized weights), see :class:`spikescope.layers.Stage`.
        lambdas: per-layer normalization factors lambda_l (one per layer with weights).
        params: neuron parameters shared by all layers.
        clamp_delay: d; the membrane of layer l (0-based) is held at 0 for the first d*l steps
            (thesis Sec. 2.1.3.3), so each layer starts once its input has settled.
        readout: "spikes" (argmax of output spike counts) or "membrane" (non-spiking output
            layer that integrates its input; argmax of its potential).
        dt_ms: duration of one time step in ms.
    """

    code = "rate"
    fused_kernels = True
    """Let :meth:`run` go layer by layer with the compiled kernel (:mod:`spikescope.layerwise`)
    where it applies; False always steps with torch operations (the reference; same bits)."""

    def __init__(self, stages: list[Stage], lambdas: list[float], params: NeuronParams, *,
                 input_shape: tuple[int, ...], percentile: float | None = None, bits: int = 8,
                 clamp_delay: int = 0, readout: str = "spikes", dt_ms: float = 1.0) -> None:
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if int(clamp_delay) != clamp_delay or clamp_delay < 0:
            raise ValueError(f"clamp_delay must be a non-negative integer, got {clamp_delay}")
        if not dt_ms > 0:
            raise ValueError(f"dt_ms must be positive, got {dt_ms}")
        self.stages = stages
        self.lambdas = [float(v) for v in lambdas]
        self.params = params
        self.input_shape = tuple(input_shape)
        self.percentile = percentile
        self.bits = bits
        self.clamp_delay = int(clamp_delay)
        self.readout = readout
        self.dt_ms = float(dt_ms)
        self.input_fan_out = fan_out(stages[0])
        # fan-out of layer l's neurons = fan-in structure of layer l+1; the output has none
        self.fan_outs = [fan_out(s) for s in stages[1:]]
        self.fan_outs.append(torch.zeros(stages[-1].n_neurons))
        self._count_helpers()
        self._state: list[NeuronState] = []
        self._t = 0

    def _count_helpers(self) -> None:
        # [ones, fan-out] per layer: one product gives spikes and synaptic ops per sample
        self._count_ops = [torch.stack([torch.ones_like(f), f], 1) for f in self.fan_outs]
        self._fan_int = [f.cpu().numpy().astype(np.int64) for f in self.fan_outs]

    # ----------------------------------------------------------------- description
    @property
    def stages(self) -> list[Stage]:
        """The spiking layers with the normalized ANN weights; setting them also sets what is
        simulated, :attr:`simulated_stages`."""
        return self._stages

    @stages.setter
    def stages(self, stages: list[Stage]) -> None:
        self._stages = stages
        self._synapses, self._grids = exact_stages(stages)
        self._n_neurons = [st.n_neurons for st in stages]

    @property
    def layer_names(self) -> list[str]:
        return [s.name for s in self.stages]

    @property
    def n_neurons(self) -> list[int]:
        """Number of neurons per spiking layer."""
        return list(self._n_neurons)

    @property
    def n_classes(self) -> int:
        return self.stages[-1].n_neurons

    @property
    def simulated_stages(self) -> list[Stage]:
        """The stages as simulated: spike-fed layers' weights on their exact-sum grid
        (:mod:`spikescope.exact`); ``stages`` holds the normalized ANN weights."""
        return list(self._synapses)

    @property
    def device(self) -> torch.device:
        return self.stages[0].weight.device

    def to(self, device: torch.device | str) -> SpikingNetwork:
        """Move weights (and any state) to ``device``; returns self."""
        for s in self.stages + self._synapses[1:]:
            s.weight, s.bias = s.weight.to(device), s.bias.to(device)
        self.input_fan_out = self.input_fan_out.to(device)
        self.fan_outs = [f.to(device) for f in self.fan_outs]
        self._count_helpers()
        self._state = []
        return self

    def __repr__(self) -> str:
        layers = ", ".join(f"{s.name}{list(s.out_shape)}" for s in self.stages)
        return (f"SpikingNetwork(code={self.code!r}, layers=[{layers}], "
                f"reset={self.params.reset!r}, threshold={self.params.threshold}, "
                f"leak={self.params.leak}, percentile={self.percentile})")

    # ----------------------------------------------------------------- the ANN view
    @torch.no_grad()
    def ann_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the normalized ANN (the original output divided by lambda_L)."""
        h = self.check_input(x)
        for s in self.stages:
            h = s.ann_forward(h)
        return h

    def ann_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalized ANN activations (ReLU'd) per layer, (B, N) each: the target rates."""
        return stage_activations(self.stages, self.check_input(x))

    # ----------------------------------------------------------------- simulation
    def check_input(self, x: torch.Tensor, *, time_major: bool = False) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        x = x.to(self.device, torch.float32)
        lead = 2 if time_major else 1
        if x.dim() == len(self.input_shape) + lead - 1 and not time_major:
            x = x.unsqueeze(0)  # a single sample
        if tuple(x.shape[lead:]) != self.input_shape:
            want = "(T, B, " if time_major else "(B, "
            raise ValueError(f"input has shape {tuple(x.shape)}; this network expects "
                             f"{want}{', '.join(map(str, self.input_shape))})")
        if not torch.isfinite(x).all():
            raise ValueError("input contains NaN or infinite values")
        return x

    def reset(self, batch_size: int, *, record: Sequence[str] = RECORDABLE,
              neurons: Mapping[int, Sequence[int]] | None = None) -> None:
        """Start a new run for ``batch_size`` samples: V = 0 everywhere, empty recording.

        record: subset of ("spikes", "membrane"). neurons: {layer: [flat neuron indices]}
        whose membrane to record (None = all neurons of every layer).
        """
        bad = set(record) - set(RECORDABLE)
        if bad:
            raise ValueError(f"cannot record {sorted(bad)}; choose from {RECORDABLE}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        dev = self.device
        self._batch = int(batch_size)
        self._t = 0
        self._state = [init_state((self._batch, *s.out_shape), self.params, device=dev)
                       for s in self.stages]
        self._pool_counts: dict[tuple[int, int], torch.Tensor] = {}
        self._counts = [torch.zeros(self._batch, n, device=dev) for n in self.n_neurons]
        self._record = tuple(record)
        self._mem_idx = None
        if "membrane" in record:
            self._mem_idx = []
            for l, n in enumerate(self.n_neurons):
                if neurons is None:
                    idx = torch.arange(n, device=dev)
                else:
                    idx = torch.as_tensor(list(neurons.get(l, [])), dtype=torch.long, device=dev)
                    if len(idx) and (idx.min() < 0 or idx.max() >= n):
                        raise ValueError(f"neuron index out of range for layer {l} "
                                         f"({self.layer_names[l]}, {n} neurons)")
                self._mem_idx.append(idx)
        # recorded so far, as chunks of steps (T_i, ...): one per step(), one per layerwise run
        self._trains: list[list[torch.Tensor]] = [[] for _ in self.stages]
        self._mem: list[list[torch.Tensor]] = [[] for _ in self.stages]
        self._out_counts: list[torch.Tensor] = []
        self._out_v: list[torch.Tensor] = []
        self._layer_stats: list[torch.Tensor] = []
        self._input_ops: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """Advance one time step with input ``x_t`` (B, ...): the encoded input of this step.

        Returns the output layer's spikes (B, C) of this step.
        """
        if not self._state:
            raise RuntimeError("call reset(batch_size) before step()")
        x_t = self.check_input(x_t)
        if x_t.shape[0] != self._batch:
            raise ValueError(f"step input has batch size {x_t.shape[0]}, reset was called with "
                             f"{self._batch}")
        return self._step(x_t)

    def _apply_pre(self, l: int, h: torch.Tensor) -> torch.Tensor:
        for i, op in enumerate(self.stages[l].pre):
            if isinstance(op, nn.MaxPool2d):
                h = self._spiking_maxpool(l, i, op, h)
            elif isinstance(op, nn.AvgPool2d):
                h = avg_pool(op, h)
            else:
                h = op(h)
        return h

    def _spiking_maxpool(self, l: int, i: int, op: nn.MaxPool2d, h: torch.Tensor) -> torch.Tensor:
        """Spiking max-pool (thesis Sec. 2.1.2.4): each window passes only the spikes of the
        input with the highest running spike count (a gate driven by the presynaptic rates)."""
        key = (l, i)
        counts = self._pool_counts.get(key)
        counts = h.clone() if counts is None else counts.add_(h)
        self._pool_counts[key] = counts
        _, idx = F.max_pool2d(counts, op.kernel_size, op.stride, op.padding, return_indices=True)
        return h.flatten(2).gather(2, idx.flatten(2)).view_as(idx).to(h.dtype)

    def _layer_current(self, l: int, h: torch.Tensor) -> torch.Tensor:
        """Layer l's input current from layer l-1's spikes (from the input for l = 0), with
        the simulated weights (:mod:`spikescope.exact`)."""
        return self._synapses[l].synapse(self._apply_pre(l, h))

    def _neuron_step(self, l: int, current: torch.Tensor) -> torch.Tensor:
        """Integrate ``current`` into layer l and return its spikes (hook for other codes)."""
        state = self._state[l]
        if self.clamp_delay and self._t < self.clamp_delay * l:
            return torch.zeros_like(current)  # clamped: V stays 0, no spikes
        if l == len(self.stages) - 1 and self.readout == "membrane":
            state.v.add_(current)
            return torch.zeros_like(current)
        spikes, _ = if_step(state, current, self.params)
        return spikes

    def input_ops(self, x_t: torch.Tensor) -> torch.Tensor:
        """Synaptic ops caused by one step of input, batch mean: events x fan-out, where an
        analog value in (0, 1] counts as one event and an event count n as n."""
        return (torch.ceil(x_t.abs()).reshape(len(x_t), -1) @ self.input_fan_out).mean()

    def _step(self, x_t: torch.Tensor, first_current: torch.Tensor | None = None,
              input_ops: torch.Tensor | None = None) -> torch.Tensor:
        B = self._batch
        self._input_ops.append((self.input_ops(x_t) if input_ops is None else input_ops)[None])
        h = x_t
        stats = []
        last = len(self.stages) - 1
        for l in range(len(self.stages)):
            current = first_current if (l == 0 and first_current is not None) \
                else self._layer_current(l, h)
            h = self._neuron_step(l, current)
            flat = h.reshape(B, -1)
            self._counts[l].add_(flat)
            stats.append(flat @ self._count_ops[l])
            if "spikes" in self._record:
                self._trains[l].append((flat > 0)[None])
            if self._mem_idx is not None and len(self._mem_idx[l]):
                self._mem[l].append(self._state[l].v.reshape(1, B, -1)[..., self._mem_idx[l]])
            if l == last:
                self._out_counts.append(self._counts[l].clone()[None])
                self._out_v.append(self._state[l].v.reshape(1, B, -1).clone())
        self._layer_stats.append(torch.stack(stats, 1)[None])  # (1, B, L, 2)
        self._t += 1
        return h.reshape(B, -1)

    @property
    def recording(self) -> Recording:
        """The recording of the run since the last :meth:`reset`."""
        if not self._state or self._t == 0:
            raise RuntimeError("nothing recorded yet: call reset() and step() or run()")
        stats = torch.cat(self._layer_stats)  # (T, B, L, 2)
        layer_ops = torch.cat([torch.cat(self._input_ops)[:, None], stats[..., 1].mean(1)], 1)
        mem = None
        if self._mem_idx is not None:
            mem = [torch.cat(m) if m else
                   torch.zeros(self._t, self._batch, 0, device=self.device) for m in self._mem]
        return Recording(
            layer_names=self.layer_names,
            spike_counts=[c.round().to(torch.int32) for c in self._counts],
            output_counts=torch.cat(self._out_counts).round().to(torch.int32),
            output_potential=torch.cat(self._out_v),
            layer_spikes=stats[..., 0].round().to(torch.int32),
            layer_ops=layer_ops,
            spike_trains=[torch.cat(t) for t in self._trains] if "spikes" in self._record
            else None,
            membrane=mem,
            membrane_neurons=self._mem_idx,
            dt_ms=self.dt_ms,
            readout=self.readout,
        )

    @torch.no_grad()
    def run(self, x: torch.Tensor, timesteps: int, *, encoding: str = "analog",
            record: Sequence[str] = RECORDABLE, neurons: Mapping[int, Sequence[int]] | None = None,
            progress: bool = False, **encoding_options) -> Recording:
        """Simulate ``timesteps`` steps on input ``x`` (B, ...) in [0, 1] and record.

        encoding: "analog" (constant current), "poisson" (options max_rate_hz, seed) or
        "events" (x is already (T, B, ...) frames); codes may register more. Equivalent to
        ``reset(B)`` followed by ``step(x_t)`` for every encoded step, bit for bit; small
        runs take the faster layer-by-layer path (:mod:`spikescope.layerwise`).
        """
        x = self.check_input(x, time_major=(encoding == "events"))
        inputs = encode(x, timesteps, encoding, dt_ms=self.dt_ms, **encoding_options)
        B = inputs.shape[1]
        self.reset(B, record=record, neurons=neurons)
        first = in_ops = None
        if encoding == "analog":  # the same input every step: its ops once
            in_ops = self.input_ops(x)
            if not any(isinstance(p, nn.MaxPool2d) for p in self.stages[0].pre):
                first = self._layer_current(0, x).contiguous()  # constant: computed once
        if layerwise.applicable(self, int(timesteps), B):
            return layerwise.run(self, inputs, first, in_ops, progress=progress)
        for t in tqdm(range(int(timesteps)), disable=not progress, desc="simulating",
                      leave=False):
            self._step(inputs[t], first, in_ops)
        return self.recording


CODES: dict[str, type[SpikingNetwork]] = {"rate": SpikingNetwork}
