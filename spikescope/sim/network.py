"""SpikingNetwork: a converted network of spiking neurons, stepped in time.

Zero-delay propagation (as in the SNN Toolbox's simulator): within one time step, layer l
integrates the spikes that layer l-1 emitted in that same step, so a spike can cross the whole
network in one step. Biases are a constant input current b_l / lambda_l per step.

What the neurons do is a neuron model (:mod:`spikescope.neurons`); how the network computes
with spikes (currents, firing, readout) is a spike code (:mod:`spikescope.codes`); the state
of a run is a :class:`~spikescope.sim.state.RunState` and what it records a
:class:`~spikescope.sim.recorder.Recorder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ..codes import CODES, Code
from ..codes.encoders import encode
from ..errors import ParameterError, ResourceLimitError, check_number
from ..neurons import NeuronModel, NeuronParams, NeuronState, neuron_model
from . import graph, layerwise
from .exact import exact_stages
from .recorder import RECORDABLE, Recorder
from .recording import Recording
from .stages import Stage
from .state import RunState

__all__ = ["CODES", "READOUTS", "RECORDABLE", "SpikingNetwork"]

READOUTS = ("spikes", "membrane")
RECORD_BUDGET_BYTES = 2 * 1024**3
"""Largest recording :meth:`SpikingNetwork.run` allocates (bytes): spike trains take 1 byte and
membranes 4 bytes per neuron, step and sample; a larger run is refused before allocating."""


class SpikingNetwork:
    """A spiking network made by :func:`spikescope.convert` (or from NIR, or trained).

    Attributes:
        stages: the spiking layers (normalized weights), see :class:`spikescope.sim.stages.Stage`.
        lambdas: per-layer normalization factors lambda_l (one per layer with weights).
        neuron: the neuron model (:class:`~spikescope.neurons.NeuronModel`) of every layer, or
            of the layers ``layer_params`` does not set; ``params`` its parameters.
        layer_neurons: the neuron model of each layer.
        spike_code: the spike code (:class:`~spikescope.codes.Code`); ``code`` its name.
        clamp_delay: d; the membrane of layer l (0-based) is held at 0 for the first d*l steps
            (thesis Sec. 2.1.3.3), so each layer starts once its input has settled.
        readout: "spikes" (argmax of output spike counts) or "membrane" (non-spiking output
            layer that integrates its input; argmax of its potential).
        dt_ms: duration of one time step in ms.
    """

    fused_kernels = True
    """Let :meth:`run` go layer by layer (:mod:`spikescope.sim.layerwise`, with the neuron
    model's compiled backend) where it applies; False always steps with torch operations (the
    reference; same bits)."""

    def __init__(self, stages: list[Stage], lambdas: list[float], params: NeuronParams, *,
                 input_shape: tuple[int, ...], code: str | type[Code] = "rate",
                 neuron: str | NeuronModel | type[NeuronModel] | None = None,
                 layer_params: Sequence[NeuronParams] | None = None,
                 percentile: float | None = None, bits: int = 8, clamp_delay: int = 0,
                 readout: str | None = None, dt_ms: float = 1.0, **code_options: Any) -> None:
        code_cls = CODES[code] if isinstance(code, str) else code
        readout = code_cls.readouts[0] if readout is None else readout
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if int(clamp_delay) != clamp_delay or clamp_delay < 0:
            raise ValueError(f"clamp_delay must be a non-negative integer, got {clamp_delay}")
        if not dt_ms > 0:
            raise ValueError(f"dt_ms must be positive, got {dt_ms}")
        if layer_params is not None and len(layer_params) != len(stages):
            raise ValueError(f"layer_params has {len(layer_params)} entries for "
                             f"{len(stages)} layers")
        self._neuron_choice = neuron
        self._layer_params = None if layer_params is None else list(layer_params)
        self.stages = stages
        self.lambdas = [float(v) for v in lambdas]
        self.params = params
        self.input_shape = tuple(input_shape)
        self.percentile = percentile
        self.bits = bits
        self.clamp_delay = int(clamp_delay)
        self.readout = readout
        self.dt_ms = float(dt_ms)
        # fan-out of a stage's neurons: the connections of every term that reads them
        self.input_fan_out, self.fan_outs = graph.fan_outs(self.stages)
        self._count_helpers()
        self.run_state: RunState | None = None
        self.spike_code = code_cls(self, **code_options)
        self.spike_code.check()

    def _count_helpers(self) -> None:
        # [ones, fan-out] per layer: one product gives spikes and synaptic ops per sample
        self._count_ops = [torch.stack([torch.ones_like(f), f], 1) for f in self.fan_outs]

    def __getattr__(self, name: str) -> Any:
        """The spike code's options and methods (e.g. ``stop_on_output``,
        ``first_spike_times``, ``inference_steps``) read as the network's."""
        if name.startswith("_") or name == "spike_code":
            raise AttributeError(name)
        try:
            return getattr(self.__dict__["spike_code"], name)
        except (KeyError, AttributeError):
            raise AttributeError(f"{type(self).__name__!r} (code "
                                 f"{getattr(self.__dict__.get('spike_code'), 'name', '?')!r})"
                                 f" has no attribute {name!r}") from None

    # ----------------------------------------------------------------- description
    @property
    def code(self) -> str:
        """The spike code's registered name."""
        return self.spike_code.name

    @property
    def stages(self) -> list[Stage]:
        """The spiking layers with the normalized ANN weights; setting them also sets what is
        simulated, :attr:`simulated_stages`."""
        return self._stages

    @stages.setter
    def stages(self, stages: list[Stage]) -> None:
        self._stages = graph.link(stages)
        self._last_use = graph.last_use(stages)
        self._synapses, self._grids = exact_stages(stages)
        self._n_neurons = [st.n_neurons for st in stages]
        self.run_state = None

    @property
    def is_chain(self) -> bool:
        """Whether the network is a plain chain of layers (no joins: residual additions or
        concatenations); see :mod:`spikescope.sim.graph`."""
        return graph.is_chain(self.stages)

    @property
    def params(self) -> NeuronParams:
        """Parameters of :attr:`neuron`; setting them rebuilds the neuron models."""
        return self.neuron.params

    @params.setter
    def params(self, params: NeuronParams) -> None:
        choice = self._neuron_choice
        if isinstance(choice, NeuronModel):
            choice = type(choice)
        self.neuron = neuron_model(choice, params)
        self.layer_neurons = [self.neuron] * len(self.stages) if self._layer_params is None \
            else [neuron_model(choice, p) for p in self._layer_params]
        self.run_state = None

    @property
    def layer_params(self) -> list[NeuronParams]:
        """Each layer's neuron parameters."""
        return [m.params for m in self.layer_neurons]

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
        (:mod:`spikescope.sim.exact`); ``stages`` holds the normalized ANN weights."""
        return list(self._synapses)

    @property
    def grids(self) -> list[int | None]:
        """Per layer the exponent g of its exact-sum grid 2^-g (None: no grid)."""
        return list(self._grids)

    @property
    def state(self) -> list[NeuronState]:
        """The neuron state of every layer in the current run (empty before ``reset``)."""
        return [] if self.run_state is None else list(self.run_state.neurons)

    @property
    def device(self) -> torch.device:
        return self.stages[0].weight.device

    def to(self, device: torch.device | str) -> SpikingNetwork:
        """Move weights (and any state) to ``device``; returns self."""
        for s in self.stages + self._synapses:
            for t in s.terms():
                t.weight, t.bias = t.weight.to(device), t.bias.to(device)
        self.input_fan_out = self.input_fan_out.to(device)
        self.fan_outs = [f.to(device) for f in self.fan_outs]
        self._count_helpers()
        self.run_state = None
        return self

    def __repr__(self) -> str:
        layers = ", ".join(f"{s.name}{list(s.out_shape)}" for s in self.stages)
        return (f"SpikingNetwork(code={self.code!r}, neuron={self.neuron.name!r}, "
                f"layers=[{layers}], reset={self.params.reset!r}, "
                f"threshold={self.params.threshold}, leak={self.params.leak}, "
                f"percentile={self.percentile})")

    # ----------------------------------------------------------------- the ANN view
    @torch.no_grad()
    def ann_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the normalized ANN (the original output divided by lambda_L)."""
        return graph.forward(self.stages, self.check_input(x))[-1]

    def ann_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalized ANN activations (ReLU'd) per layer, (B, N) each: the target rates."""
        return graph.stage_activations(self.stages, self.check_input(x))

    # ----------------------------------------------------------------- simulation
    def check_input(self, x: torch.Tensor, *, time_major: bool = False) -> torch.Tensor:
        """``x`` as a float32 tensor on the network's device, (B, ...) or (T, B, ...) with
        ``time_major``; a single sample gets a batch axis. ValueError on a wrong shape or
        NaN/inf values."""
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
            raise ParameterError(f"cannot record {sorted(bad)}; choose from {RECORDABLE}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        dev, B = self.device, int(batch_size)
        mem_idx = None
        if "membrane" in record:
            mem_idx = []
            for l, n in enumerate(self.n_neurons):
                if neurons is None:
                    idx = torch.arange(n, device=dev)
                else:
                    idx = torch.as_tensor(list(neurons.get(l, [])), dtype=torch.long, device=dev)
                    if len(idx) and (idx.min() < 0 or idx.max() >= n):
                        raise ValueError(f"neuron index out of range for layer {l} "
                                         f"({self.layer_names[l]}, {n} neurons)")
                mem_idx.append(idx)
        recorder = Recorder(self.layer_names, self.n_neurons, B, record=record,
                            membrane_neurons=mem_idx, device=dev, dt_ms=self.dt_ms,
                            readout=self.readout)
        states = [m.init_state((B, *s.out_shape), device=dev)
                  for m, s in zip(self.layer_neurons, self.stages)]
        self.run_state = RunState(batch=B, neurons=states, recorder=recorder)
        self.spike_code.start(self.run_state)

    def check_record_budget(self, timesteps: int, batch: int, record: Sequence[str],
                            neurons: Mapping[int, Sequence[int]] | None = None, *,
                            encoding: str | None = None) -> int:
        """Bytes a run would keep that grow with its steps: the recording (what ``record``
        asks for, and always the output counts and per-layer totals,
        :meth:`Recorder.bytes_per_step`) and an input ``encoding`` that makes new frames for
        every step (not "analog" or "events"); :class:`ResourceLimitError` (before anything
        is allocated) over ``spikescope.sim.network.RECORD_BUDGET_BYTES``."""
        n_mem = sum(self.n_neurons) if neurons is None else \
            sum(len(v) for v in neurons.values())
        per_step = Recorder.bytes_per_step(self.n_neurons, record, n_mem)
        if encoding is not None and encoding not in ("analog", "events"):
            n_in = 1
            for d in self.input_shape:
                n_in *= d
            per_step += 4 * n_in
        need = int(timesteps) * int(batch) * per_step
        if need > RECORD_BUDGET_BYTES:
            raise ResourceLimitError(
                f"recording {timesteps} steps x {batch} samples x {sum(self.n_neurons)} neurons "
                f"(record={tuple(record)}) would take {need / 2**30:.2f} GiB, which exceeds the "
                f"limit (the recording budget) of {RECORD_BUDGET_BYTES / 2**30:.2f} GiB "
                f"(spikescope.sim.network.RECORD_BUDGET_BYTES); record less: fewer timesteps "
                f"or samples, record=('spikes',) or record=() (spike counts and output counts "
                f"are always kept), or neurons={{layer: [indices]}} for the membranes")
        return need

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """Advance one time step with input ``x_t`` (B, ...): the encoded input of this step.

        Returns the output layer's spikes (B, C) of this step.
        """
        if self.run_state is None:
            raise RuntimeError("call reset(batch_size) before step()")
        x_t = self.check_input(x_t)
        if x_t.shape[0] != self.run_state.batch:
            raise ValueError(f"step input has batch size {x_t.shape[0]}, reset was called with "
                             f"{self.run_state.batch}")
        with layerwise.float32_exact():  # exact sums: no TF32 on a GPU, as in run()
            return self._advance(x_t)

    def input_ops(self, x_t: torch.Tensor) -> torch.Tensor:
        """Synaptic ops caused by one step of input, batch mean: events x fan-out, where an
        analog value in (0, 1] counts as one event and an event count n as n."""
        return (torch.ceil(x_t.abs()).reshape(len(x_t), -1) @ self.input_fan_out).mean()

    def _advance(self, x_t: torch.Tensor, first_current: torch.Tensor | None = None,
                 input_ops: torch.Tensor | None = None) -> torch.Tensor:
        """One step: the code's hooks layer by layer, everything appended to the recorder."""
        run, code = self.run_state, self.spike_code
        B = run.batch
        x_t = code.before_step(run, x_t)
        in_ops = self.input_ops(x_t) if input_ops is None else input_ops
        run.outputs = outputs = {graph.INPUT: x_t}
        for l, stage in enumerate(self.stages):
            current = first_current if (l == 0 and first_current is not None) \
                else code.layer_current(run, l, graph.gather(outputs, stage.sources))
            h = outputs[l] = code.neuron_step(run, l, current)
            flat = h.reshape(B, -1)
            run.recorder.add_layer_step(l, flat, run.neurons[l].v.reshape(B, -1),
                                        flat @ self._count_ops[l])
        code.after_step(run)
        run.outputs = {}
        run.recorder.end_step(in_ops)
        run.t += 1
        return h.reshape(B, -1)

    @property
    def recording(self) -> Recording:
        """The recording of the run since the last :meth:`reset`."""
        if self.run_state is None or self.run_state.t == 0:
            raise RuntimeError("nothing recorded yet: call reset() and step() or run()")
        return self.spike_code.finish(self.run_state, self.run_state.recorder.recording())

    @torch.no_grad()
    def run(self, x: torch.Tensor, timesteps: int | None = None, *,
            encoding: str | None = None, record: Sequence[str] = RECORDABLE,
            neurons: Mapping[int, Sequence[int]] | None = None, progress: bool = False,
            **encoding_options) -> Recording:
        """Simulate ``timesteps`` steps on input ``x`` (B, ...) in [0, 1] and record.

        encoding: "analog" (constant current), "poisson" (options max_rate_hz, seed),
        "events" (x is already (T, B, ...) frames), or a code's own ("ttfs", "pattern");
        None is the code's default. Equivalent to ``reset(B)`` followed by ``step(x_t)`` for
        every encoded step, bit for bit; runs the code allows take the faster layer-by-layer
        path (:mod:`spikescope.sim.layerwise`).
        """
        timesteps, encoding, extra = self.spike_code.run_arguments(timesteps, encoding)
        x = self.check_input(x, time_major=(encoding == "events"))
        check_number("timesteps", timesteps, integer=True, low=1)
        self.check_record_budget(int(timesteps), x.shape[1 if encoding == "events" else 0],
                                 record, neurons, encoding=encoding)
        inputs = encode(x, timesteps, encoding, dt_ms=self.dt_ms,
                        **{**extra, **encoding_options})
        B = inputs.shape[1]
        self.reset(B, record=record, neurons=neurons)
        self.spike_code.begin_run(self.run_state, x, encoding)
        with layerwise.float32_exact():  # exact sums: no TF32 on a GPU
            first = in_ops = None
            if encoding == "analog" and self.spike_code.layerwise():
                in_ops = self.input_ops(x)  # the same input every step: its ops once
                if layerwise.stateless_input(self.stages[0]):  # and its current once
                    first = self.spike_code.layer_current(self.run_state, 0, x).contiguous()
            if layerwise.applicable(self):
                layerwise.run(self, inputs, first, in_ops, progress=progress)
                return self.recording
            for t in tqdm(range(int(timesteps)), disable=not progress, desc="simulating",
                          leave=False):
                self._advance(inputs[t], first, in_ops)
        return self.recording
