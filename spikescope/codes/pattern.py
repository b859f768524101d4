"""Temporal pattern code (TPC, thesis Sec. 2.3): layer-wise n-bit binary spike patterns.

An activation a, normalized to [0, 1), is truncated to n bits (values >= 1 saturate at
1 - 2^-n) and sent MSB first: bit k (k = 1..n, weight 2^-k) is a spike at step k of the
sender's window. The receiving neuron weighs a spike at bit position k by 2^-k (the kernel of
eq. 2.31) and adds its bias once, so after n steps its potential is exactly the ANN
pre-activation of the truncated inputs, u_i(n) = sum_j w_ij trunc_n(a_j) + b_i; the time
threshold n then makes it emit trunc_n(ReLU(u_i)) as its own pattern (MSB first).

Time (what ``timesteps`` means): each layer has a window of n = ``bits`` steps. Steps count
from 1; the input pattern arrives in steps 1..n, during which layer 0 integrates; layer l
integrates in window l (steps l n + 1 .. (l + 1) n) while layer l - 1 emits its pattern, so
one full inference takes ``inference_steps = L * n`` steps (L = number of layers with weights).
Running only k < n steps into a window equals dropping the last n - k bits of that window's
input pattern (the potential then holds the sum over the k most significant bits).

Readout: the output layer does not spike; its potential is the ANN output (of truncated
inputs), read out by argmax (``readout="membrane"``). Predictions are -1 (undecided) before
the output window starts, then refine bit by bit.

Operations: every spike (input pattern included) costs its fan-out, summed over all bit steps
(eq. 2.22), as for the other codes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..sim.recording import Recording
from .base import Code, gate_max, register_code
from .encoders import register

if TYPE_CHECKING:
    from ..sim.state import RunState

MAX_BITS = 24  # float32 holds 24-bit mantissas: sums of bit-weighted weights stay exact


def _check_bits(bits: int) -> int:
    if int(bits) != bits or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits (the pattern code's n) must be an integer in 1..{MAX_BITS}, "
                         f"got {bits}")
    return int(bits)


def quantize(a: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer code q = min(floor(max(a, 0) 2^n), 2^n - 1) of ``a`` in n = ``bits`` bits."""
    bits = _check_bits(bits)
    scale = float(2 ** bits)
    return torch.floor(a.clamp(min=0) * scale).clamp(max=scale - 1).to(torch.int64)


def truncate(a: torch.Tensor, bits: int) -> torch.Tensor:
    """trunc_n(a) = quantize(a, n) / 2^n: the value an n-bit pattern carries, in [0, 1)."""
    return quantize(a, bits).to(a.dtype) / float(2 ** bits)


def pattern_bit(q: torch.Tensor, bits: int, k: int) -> torch.Tensor:
    """Bit k (1 = MSB, weight 2^-k) of the n-bit codes ``q``, as 0/1 floats."""
    return ((q >> (bits - k)) & 1).to(torch.float32)


@register("pattern")
def pattern(x: torch.Tensor, timesteps: int, *, bits: int = 8, **_: object) -> torch.Tensor:
    """n-bit pattern input: step k (1..n) carries bit k of trunc_n(x) (MSB first), later
    steps are silent. Returns (T, B, ...) 0/1 floats."""
    q = quantize(x, bits)
    out = torch.zeros((timesteps, *x.shape), dtype=x.dtype, device=x.device)
    for k in range(1, min(bits, timesteps) + 1):
        out[k - 1] = pattern_bit(q, bits, k).to(x.dtype)
    return out


@dataclass
class PatternRecording(Recording):
    """A :class:`Recording` whose predictions are -1 before the output layer's window."""

    first_decision_step: int = 0  # 0-based step index at which the output window starts

    def predictions(self, t: int | None = None) -> torch.Tensor:
        t = self.timesteps - 1 if t is None else t
        pred = super().predictions(t)
        return pred if t >= self.first_decision_step else torch.full_like(pred, -1)

    def all_predictions(self) -> torch.Tensor:
        pred = super().all_predictions().clone()
        pred[: self.first_decision_step] = -1
        return pred


@register_code("pattern")
class Pattern(Code):
    """Temporal pattern code (thesis Sec. 2.3); see the module docstring.

    The network's ``bits`` is n, the word length and window of every layer. Encodings:
    "pattern" (the n-bit input pattern) or "analog" (the same: the input layer turns the
    static image into its n-bit pattern). The readout is always "membrane".
    """

    encoding = "pattern"
    readouts = ("membrane",)
    graphs = False

    def check(self) -> None:
        super().check()
        if self.net.readout != "membrane":
            raise ValueError(f"the pattern code reads out the output potential "
                             f"(readout='membrane'), got readout={self.net.readout!r}")
        if self.net.clamp_delay:
            raise ValueError("clamp_delay does not apply to the pattern code (its layers "
                             "already wait for their window)")
        _check_bits(self.net.bits)

    @property
    def inference_steps(self) -> int:
        """Steps of one full inference: L windows of n bits."""
        return len(self.net.stages) * self.net.bits

    def run_arguments(self, timesteps: int | None, encoding: str | None
                      ) -> tuple[int, str, dict[str, Any]]:
        """``timesteps`` defaults to :attr:`inference_steps`; "analog" means "pattern"."""
        if encoding in (None, "analog"):
            encoding = "pattern"
        if encoding != "pattern":
            raise ValueError(f"the pattern code takes encoding 'pattern' (or 'analog', which "
                             f"it turns into the n-bit pattern), got {encoding!r}")
        T = self.inference_steps if timesteps is None else timesteps
        return T, encoding, {"bits": self.net.bits}

    def start(self, run: RunState) -> None:
        _check_bits(self.net.bits)
        run.code["codes"] = [None] * len(self.net.stages)

    def window(self, run: RunState) -> tuple[int, int]:
        """(window index, 1-based bit position k) of the current step."""
        return run.t // self.net.bits, run.t % self.net.bits + 1

    def max_pool(self, run: RunState, key: tuple[int, int], op: nn.MaxPool2d,
                 h: torch.Tensor) -> torch.Tensor:
        """Max pooling of patterns: pass the bits of the input with the largest value so far
        (MSB first, the running maximum of the prefixes picks the bits of the maximum)."""
        _, k = self.window(run)
        val = run.pool_counts.get(key)
        step = h * 2.0 ** -k
        run.pool_counts[key] = val = step.clone() if val is None else val.add_(step)
        return gate_max(val, op, h)

    def layer_current(self, run: RunState, l: int, h: torch.Tensor) -> torch.Tensor | None:
        w, k = self.window(run)
        if w != l:
            return None  # not this layer's window: nothing arrives
        # eq. 2.31: a spike at bit position k adds w_ij 2^-k; the bias comes once per window
        return self.net.stages[l].synapse(self.apply_pre(run, l, h) * 2.0 ** -k, bias=(k == 1))

    def neuron_step(self, run: RunState, l: int, current: torch.Tensor | None) -> torch.Tensor:
        v = run.neurons[l].v
        if current is not None:
            v.add_(current)
        w, k = self.window(run)
        if l < len(self.net.stages) - 1 and w == l + 1:
            codes = run.code["codes"]
            if k == 1:  # time threshold: freeze the potential into an n-bit code
                codes[l] = quantize(v, self.net.bits)
            return pattern_bit(codes[l], self.net.bits, k).to(v.dtype)
        return torch.zeros_like(v)

    def finish(self, run: RunState, recording: Recording) -> PatternRecording:
        return PatternRecording(**{f.name: getattr(recording, f.name) for f in fields(recording)},
                                first_decision_step=(len(self.net.stages) - 1) * self.net.bits)
