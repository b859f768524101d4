"""Time-to-first-spike (TTFS) code (thesis Sec. 2.2): every neuron fires at most once.

The membrane is non-leaky and the post-synaptic potential (PSP) of an input spike grows
linearly with the time since that spike (eqs. 2.24-2.26): up to its first spike,

    u_i(t) = sum_{j fired} w_ij (t - t_j + 1) + b_i t,     rate  mu_i = sum_{j fired} w_ij + b_i

and neuron i fires once, at the first step where u_i(t) >= theta (eq. 2.27); afterwards it is
silent for the rest of the inference (an infinite refractory period, V held at 0). An ANN
activation a (normalized, threshold 1) corresponds to a first spike at t ~ 1/a.

Counting convention (tested): steps are numbered from 1 (the first call of ``step()`` is
t = 1; ``spike_trains[l][t - 1]`` holds the spikes of step t). Spikes reach the next layer in
the step they are emitted (zero delay, as for the rate code), so a spike emitted at step t_j
already adds w_ij at step t_j: hence the ``+ 1`` above. Example: a first-layer neuron with
constant (analog) input 0.25 has u(t) = 0.25 t and fires first at t = 4; a next-layer neuron
fed only by it with w = 0.5 has u(4) = 0.5, u(5) = 1.0 and fires first at t = 5.

Input: with ``encoding="analog"`` the first layer gets the constant current W x + b each step
(its neurons fire at ~1/(W x + b)); with ``encoding="ttfs"`` every input pixel of intensity a
is itself a TTFS neuron that spikes once, at the first step t with a t >= 1 (t = ceil(1/a)),
and the first layer integrates the linear PSPs of those spikes.

Readout (``readout="spikes"``): the first output neuron to fire is the class (if several cross
in the same step, the one furthest above threshold). By default (``stop_on_output=True``) the
simulation of a sample stops there (thesis Sec. 2.2.3): no neuron of that sample fires
afterwards, so ``synaptic_ops`` counts the operations up to the decision.

Variants:
- "ttfs-dyn-thresh" (eq. 2.28): theta_i(t) = theta + sum_j |w_ij| H_j(t), where H_j(t) = 1
  while presynaptic neuron j has not fired yet but has excitatory net input (mu_j(t) > 0, it
  expects to fire). The threshold is raised by |w_ij| for each such neuron and lowered again
  when it fires, so a neuron does not fire before the inputs it is waiting for have arrived.
  The flags ("expect a spike from me") are messages too: each change of H_j costs the fan-out
  of j in ``synaptic_ops`` (reported apart in ``recording.extras["threshold_update_ops"]``).
- "ttfs-clamped" (eq. 2.29): the ANN is fine-tuned with ReLU_clamp(x) = x if x > beta else 0
  (:func:`spikescope.training.clamped.finetune_clamped`), then converted; with ``beta``
  given to ``convert``, a hidden neuron of layer l may only fire while t < lambda_l / beta
  (later spikes stand for activations <= beta, which the clamped ANN sets to zero).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..neurons import NeuronParams
from ..sim.network import CODES, RECORDABLE, SpikingNetwork
from ..sim.recording import Recording
from ..sim.stages import Stage
from .encoders import register


@register("ttfs")
def ttfs(x: torch.Tensor, timesteps: int, **_: object) -> torch.Tensor:
    """Time-to-first-spike input: pixel a > 0 spikes once, at the first step t with a t >= 1.

    Steps count from 1 (row 0 of the result is step 1), so a = 0.25 spikes at t = 4 (row 3),
    a = 1 at t = 1; pixels with a <= 0 or 1/a > ``timesteps`` never spike. Returns (T, B, ...)
    0/1 floats.
    """
    a = x.clamp(min=0)
    t = torch.ceil(1.0 / a.clamp(min=1e-12))
    # guard float rounding so that the spike step is exactly the first t with a * t >= 1
    t = torch.where(a * (t - 1) >= 1, t - 1, t)
    t = torch.where(a * t >= 1, t, t + 1)
    steps = torch.arange(1, timesteps + 1, device=x.device, dtype=x.dtype)
    steps = steps.reshape(-1, *([1] * x.dim()))
    return ((steps == t.unsqueeze(0)) & (a.unsqueeze(0) > 0)).to(x.dtype)


def _plain_pre(stage: Stage, h: torch.Tensor) -> torch.Tensor:
    """Pre ops on 'has fired' indicators: average pooling is linear; max pooling of the
    indicators passes the first spike of each window (temporal winner-take-all)."""
    for op in stage.pre:
        h = op(h)
    return h


class TTFSNetwork(SpikingNetwork):
    """TTFS network ("ttfs base", thesis Sec. 2.2.2.1); see the module docstring.

    Extra options (through :func:`spikescope.convert`): ``stop_on_output`` (bool, default
    True): stop a sample's simulation at its first output spike.
    """

    code = "ttfs"
    dynamic_threshold = False

    def __init__(self, stages: list[Stage], lambdas: list[float], params: NeuronParams, *,
                 stop_on_output: bool = True, **kwargs) -> None:
        super().__init__(stages, lambdas, params, **kwargs)
        self.stop_on_output = bool(stop_on_output)
        self._static_input: torch.Tensor | None = None

    def _fire_deadline(self, l: int) -> float:
        """Last step (exclusive) at which layer l may fire (inf: no deadline)."""
        return float("inf")

    # ----------------------------------------------------------------- state
    def reset(self, batch_size: int, *, record: Sequence[str] = RECORDABLE,
              neurons: Mapping[int, Sequence[int]] | None = None) -> None:
        super().reset(batch_size, record=record, neurons=neurons)
        dev = self.device
        self._fired = [torch.zeros((self._batch, *s.out_shape), dtype=torch.bool, device=dev)
                       for s in self.stages]
        self._done = torch.zeros(self._batch, dtype=torch.bool, device=dev)
        self._in_drive: torch.Tensor | None = None
        self._pending: list[torch.Tensor | None] = [None] * len(self.stages)
        self._in_pending: torch.Tensor | None = None
        self._flag_ops: list[torch.Tensor] = []
        self._flag_buf: torch.Tensor | None = None
        if self.dynamic_threshold:
            self._abs_stages = [replace(s, weight=s.weight.abs(),
                                        bias=torch.zeros_like(s.bias), pre=list(s.pre))
                                for s in self.stages]

    def expect_input(self, x: torch.Tensor | None) -> None:
        """Tell a step()-driven run which static input the "ttfs"-encoded steps come from, so
        the dynamic threshold knows which input pixels will still spike, as :meth:`run` does
        (call after :meth:`reset`; None forgets it)."""
        self._static_input = x

    @torch.no_grad()
    def run(self, x: torch.Tensor, timesteps: int, *, encoding: str = "analog",
            **kwargs) -> Recording:
        """As :meth:`SpikingNetwork.run`; with ``encoding="ttfs"`` the dynamic threshold also
        knows which input pixels will still spike (for step() see :meth:`expect_input`)."""
        self._static_input = x if encoding == "ttfs" else None
        try:
            return super().run(x, timesteps, encoding=encoding, **kwargs)
        finally:
            self._static_input = None

    # ----------------------------------------------------------------- dynamics
    def _layer_current(self, l: int, h: torch.Tensor) -> torch.Tensor:
        """mu_l = W_l (has-fired indicators of layer l-1) + b_l (eq. 2.26)."""
        if l == 0:
            # analog input: a constant current; spike input: a step that stays on after the
            # input spike. The running maximum is both.
            drive = h if self._in_drive is None else torch.maximum(self._in_drive, h)
            self._in_drive = drive
            if self.dynamic_threshold and self._static_input is not None:
                x = self.check_input(self._static_input)
                self._in_pending = (x > 0) & ~(drive > 0)
        else:
            drive = self._fired[l - 1].to(h.dtype)
        return self.stages[l].synapse(_plain_pre(self.stages[l], drive))

    def _threshold(self, l: int) -> torch.Tensor | float:
        theta = self.params.threshold
        if not self.dynamic_threshold:
            return theta
        pending = self._in_pending if l == 0 else self._pending[l - 1]
        if pending is None:
            return theta
        st = self._abs_stages[l]
        return theta + st.synapse(_plain_pre(st, pending.to(self._state[l].v.dtype)),
                                  bias=False)

    def _neuron_step(self, l: int, current: torch.Tensor) -> torch.Tensor:
        state = self._state[l]
        v = state.v
        last = l == len(self.stages) - 1
        if self.clamp_delay and self._t < self.clamp_delay * l:
            return torch.zeros_like(current)
        if last and self.readout == "membrane":
            v.add_(current)
            return torch.zeros_like(current)
        done = self._done.reshape(-1, *([1] * (v.dim() - 1)))
        active = ~self._fired[l] & ~done
        v.add_(torch.where(active, current, torch.zeros_like(current)))
        thr = self._threshold(l)
        cross = (v >= thr) & active
        t = self._t + 1  # 1-based step number
        if t >= self._fire_deadline(l):
            cross = torch.zeros_like(cross)
        if last and self.stop_on_output:
            # one output spike per sample: the neuron furthest above threshold wins
            margin = torch.where(cross, v - thr, torch.full_like(v, -float("inf")))
            flat = margin.reshape(len(v), -1)
            win = F.one_hot(flat.argmax(1), flat.shape[1]).bool().reshape(v.shape)
            cross = cross & win
            self._done |= cross.reshape(len(v), -1).any(1)
        self._fired[l] |= cross
        v.masked_fill_(self._fired[l], 0.0)  # fired: silent for the rest of the inference
        if self.dynamic_threshold:
            self._update_pending(l, current, active)
        return cross.to(v.dtype)

    def _update_pending(self, l: int, current: torch.Tensor, active: torch.Tensor) -> None:
        """H_j(t): not fired yet and excitatory net input (mu_j > 0); flag changes cost ops."""
        new = active & ~self._fired[l] & (current > 0)
        old = self._pending[l]
        B = self._batch
        if old is None:
            changed = new
        else:
            # a flag goes up, or comes down without the spike that would explain it
            changed = (new & ~old) | (old & ~new & ~self._fired[l])
        self._pending[l] = new
        self._flag_buf[l + 1] += (changed.reshape(B, -1).to(current.dtype)
                                  @ self.fan_outs[l]).mean()

    def _step(self, x_t: torch.Tensor, first_current: torch.Tensor | None = None,
              input_ops: torch.Tensor | None = None) -> torch.Tensor:
        # input_ops is recomputed below: stopped samples send no input events
        self._flag_buf = torch.zeros(len(self.stages) + 1, device=self.device)
        if self.dynamic_threshold and self._static_input is not None and self._t == 0:
            x = self.check_input(self._static_input).reshape(self._batch, -1)
            self._flag_buf[0] += ((x > 0).to(x.dtype) @ self.input_fan_out).mean()
        # a stopped sample sends no more input events either
        x_t = x_t * ~self._done.reshape(-1, *([1] * (x_t.dim() - 1)))
        out = super()._step(x_t, first_current)
        self._flag_ops.append(self._flag_buf)
        return out

    @property
    def recording(self) -> Recording:
        rec = super().recording
        if self.dynamic_threshold:
            flags = torch.stack(self._flag_ops)
            rec.layer_ops = rec.layer_ops + flags
            rec.extras["threshold_update_ops"] = flags.sum(1).cumsum(0)
        return rec

    def first_spike_times(self, rec: Recording) -> list[torch.Tensor]:
        """Per layer (B, N) first-spike step (1-based) of every neuron, 0 if it never fired."""
        if rec.spike_trains is None:
            raise ValueError("record spikes to get first-spike times (record=('spikes',))")
        out = []
        for tr in rec.spike_trains:
            T = tr.shape[0]
            steps = torch.arange(1, T + 1, device=tr.device).reshape(T, 1, 1)
            first = torch.where(tr, steps, torch.full_like(steps, T + 1)).amin(0)
            out.append(torch.where(first > T, torch.zeros_like(first), first))
        return out


class TTFSDynThreshNetwork(TTFSNetwork):
    """TTFS with dynamic threshold (eq. 2.28, "TTFS dyn thresh"); see the module docstring."""

    code = "ttfs-dyn-thresh"
    dynamic_threshold = True


class TTFSClampedNetwork(TTFSNetwork):
    """TTFS of an ANN fine-tuned with the clamped ReLU (eq. 2.29, "TTFS clamped").

    ``beta`` (ANN activation units, as in
    :func:`~spikescope.training.clamped.finetune_clamped`): hidden neurons of layer l
    fire only while t < lambda_l / beta; None or 0 means no deadline.
    """

    code = "ttfs-clamped"

    def __init__(self, stages: list[Stage], lambdas: list[float], params: NeuronParams, *,
                 beta: float | None = None, **kwargs) -> None:
        if beta is not None and not beta >= 0:
            raise ValueError(f"beta must be >= 0 (ANN activation units), got {beta}")
        super().__init__(stages, lambdas, params, **kwargs)
        self.beta = beta

    def _fire_deadline(self, l: int) -> float:
        if not self.beta or not self.stages[l].relu:
            return float("inf")
        return self.lambdas[l] / self.beta


CODES["ttfs"] = TTFSNetwork
CODES["ttfs-dyn-thresh"] = TTFSDynThreshNetwork
CODES["ttfs-clamped"] = TTFSClampedNetwork
