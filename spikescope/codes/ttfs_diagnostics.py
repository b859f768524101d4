"""Where a TTFS network loses against its ANN: per-layer diagnostics (thesis Sec. 2.2).

:func:`ttfs_diagnostics` runs (or takes) a TTFS recording and compares it, layer by layer,
with the ANN it was converted from:

- ``corr``: Pearson correlation between the TTFS-decoded activation 1/t_i (t_i the first
  spike step, 0 if the neuron never fired) and the ANN activation a_i / lambda_l (the layer's
  normalized units, in which a first spike at t ~ 1/a is the ideal; eq. 2.27 and below).
- ``premature``: share of the neurons that fired whose first spike came before one of their
  ANN-active inputs (a_j > 0, w_ij != 0, either sign: the late input of the A/B/C example of
  Sec. 2.2.2 is inhibitory) that spiked later in the run had arrived (the neuron decided
  without it). Inputs that never spiked are not counted here
  (they show as ``silent_active`` of the layer below). "Arrived" counts the step the input
  spikes in as arrived (spikes reach the next layer in the same step); for layer 0 the
  inputs are the pixels (with ``encoding="ttfs"`` pixel x_j arrives at ceil(1/x_j); with
  analog input every pixel is there from step 1, so layer 0 is never premature).
- ``silent_active``: share of the ANN-active neurons (a_i > 0) that never fired (long-latency
  spikes cut off by the stopping rule of Sec. 2.2.3 or by the run's end, or suppressed).
- ``spurious``: share of the ANN-silent neurons (a_i = 0) that fired.
- ``held``: share of the neurons that fired whose membrane had already reached theta(inf)
  at an earlier step: spikes held back by the dynamic threshold of eq. 2.28 (always 0 for
  "ttfs" base and "ttfs-clamped"); ``hold_steps``: their mean delay in steps. NaN when the
  recording does not carry the code's ``extras["ready_step"]``.
- ``decision_t`` (output row): mean step of the output decision (the first output spike);
  ``undecided``: share of samples without one.

The table is a pandas DataFrame, one row per layer.

:func:`decision_time_errors` answers the complementary question, how good a decision
*could* be at each step: it reads the output layer's potential (no output threshold, no
stopping) and gives the error at every step. With the linear PSP of eq. 2.25 the potential at
time t is mu t - sum_j w_j t_j: the activations live in the onsets t_j, and the longer a
layer waits, the more mu (which inputs fired, not when) dominates. That is why waiting for
missing inputs (eq. 2.28) can cost accuracy instead of buying it (issue 23).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

if TYPE_CHECKING:
    from ..sim.network import SpikingNetwork
    from ..sim.recording import Recording
    from ..sim.stages import Stage

COLUMNS = ("layer", "neurons", "corr", "premature", "silent_active", "spurious", "fired",
           "held", "hold_steps", "decision_t", "undecided")


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    if a.numel() < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def _input_times(x: torch.Tensor, encoding: str) -> torch.Tensor:
    """Arrival step of each input pixel (0: never); analog input arrives at step 1."""
    a = x.clamp(min=0)
    if encoding == "ttfs":
        t = torch.ceil(1.0 / a.clamp(min=1e-12))
        t = torch.where(a * (t - 1) >= 1, t - 1, t)
        t = torch.where(a * t >= 1, t, t + 1)
    else:
        t = torch.ones_like(a)
    return torch.where(a > 0, t, torch.zeros_like(t)).reshape(len(x), -1)


def _premature(stage: Stage, t_in: torch.Tensor, active_in: torch.Tensor,
               t_out: torch.Tensor, in_shape: tuple) -> torch.Tensor:
    """(B, N) bool: fired at t_i while an ANN-active input (w_ij != 0) that spiked later in
    the run (t_j > t_i) had not arrived yet."""
    B = t_out.shape[0]
    late = torch.where(active_in, t_in, torch.zeros_like(t_in))
    reach = replace(stage, weight=(stage.weight != 0).float(),
                    bias=torch.zeros_like(stage.bias), pre=list(stage.pre))
    out = torch.zeros_like(t_out, dtype=torch.bool)
    for t in torch.unique(t_out[t_out > 0]).tolist():
        missing = (late > t).float().reshape(B, *in_shape)
        for op in reach.pre:
            missing = op(missing)
        got = reach.synapse(missing, bias=False).reshape(B, -1) > 0
        out |= (t_out == t) & got
    return out


@torch.no_grad()
def ttfs_diagnostics(net: SpikingNetwork, model: nn.Module, x: torch.Tensor,
                     rec: Recording | None = None, *, timesteps: int = 100,
                     encoding: str = "analog") -> pd.DataFrame:
    """Per-layer diagnostics of a TTFS network ``net`` converted from ``model`` on input ``x``
    (see the module docstring for the columns). ``rec`` (recorded with spikes) is computed
    with ``net.run(x, timesteps, encoding=encoding)`` when not given; pass the encoding it
    was recorded with."""
    from ..convert.parse import parse  # convert imports the simulator, which imports codes

    if not hasattr(net.spike_code, "first_spike_times"):
        raise ValueError(f"ttfs_diagnostics needs a TTFS code, the network uses "
                         f"{net.code!r}")
    if rec is None:
        rec = net.run(x, timesteps, encoding=encoding, record=("spikes",))
    times = [t.cpu().long() for t in net.first_spike_times(rec)]
    x = x.float().cpu()
    acts, h = [], x
    for s in parse(copy.deepcopy(model).eval().cpu(), tuple(net.input_shape)):
        h = s.ann_forward(h)  # ReLU where the ANN has one: logits at the output
        acts.append(h.reshape(len(x), -1))
    ready = rec.extras.get("ready_step")
    rows = []
    t_in = _input_times(x, encoding)
    active_in = x.reshape(len(x), -1) > 0
    in_shape = tuple(net.input_shape)
    for l, (name, a, lam, t) in enumerate(zip(net.layer_names, acts, net.lambdas, times)):
        last = l == len(times) - 1
        target = a / lam
        decoded = torch.where(t > 0, 1.0 / t.clamp(min=1).float(), torch.zeros_like(target))
        fired = t > 0
        st = net.stages[l]
        st = replace(st, weight=st.weight.cpu(), bias=st.bias.cpu(), pre=list(st.pre))
        prem = _premature(st, t_in, active_in, t, in_shape)
        active = a > 0
        row = dict(layer=name, neurons=int(t.shape[1]), corr=_corr(decoded, target),
                   premature=float(prem.sum() / fired.sum().clamp(min=1)),
                   silent_active=float((active & ~fired).sum() / active.sum().clamp(min=1)),
                   spurious=float((~active & fired).sum() / (~active).sum().clamp(min=1)),
                   fired=float(fired.float().mean()), held=float("nan"),
                   hold_steps=float("nan"), decision_t=float("nan"), undecided=float("nan"))
        if ready is not None:
            r = ready[l].cpu().long()
            held = fired & (r > 0) & (r < t)
            row["held"] = float(held.sum() / fired.sum().clamp(min=1))
            row["hold_steps"] = float((t - r)[held].float().mean()) if held.any() else 0.0
        if last:
            first = torch.where(fired, t, torch.full_like(t, 1 << 30)).amin(1)
            decided = first < (1 << 30)
            row["decision_t"] = float(first[decided].float().mean()) if decided.any() \
                else float("nan")
            row["undecided"] = float((~decided).float().mean())
        rows.append(row)
        t_in, active_in, in_shape = t, active, tuple(st.out_shape)
    return pd.DataFrame(rows, columns=list(COLUMNS))


@torch.no_grad()
def decision_time_errors(model: nn.Module, calibration: torch.Tensor, x: torch.Tensor,
                         y: torch.Tensor, timesteps: int, *, code: str = "ttfs",
                         **convert_options) -> pd.Series:
    """Error (%) of a TTFS network read out from the output potential at every step.

    Converts ``model`` with ``code`` and ``readout="membrane"`` (the output layer integrates
    eq. 2.25 without a threshold and nothing stops), runs ``x`` with analog input and returns
    the error of argmax V_out after each step, indexed by step (1-based). Comparing it at the
    decision steps of two variants (``decision_t`` of :func:`ttfs_diagnostics`) separates
    what their hidden layers deliver from when their output layer decides.
    """
    from ..convert import convert  # convert imports the simulator, which imports codes

    net = convert(model, calibration, code=code, readout="membrane", **convert_options)
    rec = net.run(x, timesteps, encoding="analog", record=())
    wrong = (rec.all_predictions().cpu() != y.reshape(1, -1)).float().mean(1) * 100
    return pd.Series(wrong.numpy(), index=range(1, timesteps + 1), name="error %")
