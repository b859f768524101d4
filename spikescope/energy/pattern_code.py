"""Operations and cost of n-bit temporal pattern codes, and the structure of thesis Table 2.7
(Rueckauer 2020, Sec. 2.3.3.3): error and relative cost (eq. 2.32) of the ANN, the rate SNN
and pattern codes at several activation widths."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from ..codes.pattern import MAX_BITS, truncate
from ..metrics import accuracy
from ..sim import graph
from ..sim.graph import INPUT
from ..sim.network import SpikingNetwork
from ..sim.recording import Recording
from .costs import network_counts, relative_cost


def quantize_activation(a: torch.Tensor, bits: int) -> torch.Tensor:
    """Truncate normalized activations in [0, 1) to ``bits`` binary digits (the value an
    n-bit temporal pattern code transmits: sum_i bit_i 2^-i), i.e.
    :func:`spikescope.codes.pattern.truncate`; values >= 1 saturate at 1 - 2^-n.

    Widths above the pattern code's ``MAX_BITS`` (e.g. the 32-bit column of Table 2.7) are
    truncated ``MAX_BITS`` bits at a time, which is exact in float64.
    """
    if bits <= MAX_BITS:
        return truncate(a, bits)
    high = truncate(a, MAX_BITS)
    scale = 2.0 ** MAX_BITS
    return high + quantize_activation((a - high) * scale, bits - MAX_BITS) / scale


def _popcount(codes: torch.Tensor) -> torch.Tensor:
    codes = codes.to(torch.int64)
    count = torch.zeros_like(codes)
    while bool((codes > 0).any()):
        count += codes & 1
        codes = codes >> 1
    return count


@torch.no_grad()
def pattern_ops(net: SpikingNetwork, x: torch.Tensor, bits: int) -> dict[str, float]:
    """Operations of an n-bit temporal pattern code from the activations' bit patterns.

    Every layer (input included) sends its ``bits``-bit truncated activation as a bit string:
    one spike per 1-bit, each costing fan-out adds; every neuron shifts its state once per
    bit. On a graph every population's bits reach all the terms that read it (its exact
    fan-out). Returns per-sample means {"adds", "shifts", "logits"}, the logits being the
    output logits of the network running on truncated activations.
    """
    h = quantize_activation(net.check_input(x).double(), bits)
    adds = torch.zeros(len(h), dtype=torch.float64)
    outputs = {INPUT: h}
    fans = {INPUT: net.input_fan_out, **dict(enumerate(net.fan_outs))}
    last = len(net.stages) - 1
    for l, s in enumerate(net.stages):
        z = graph.stage_forward(s.copy(weight=s.weight.double(), bias=s.bias.double(), branches=[
            b.copy(weight=b.weight.double(), bias=b.bias.double()) for b in s.branches]),
            outputs)
        outputs[l] = z if l == last else quantize_activation(torch.relu(z), bits)
    for i, a in outputs.items():  # every population sends its bits to all its readers
        if i != last:
            ones = _popcount(torch.round(a.reshape(len(a), -1) * 2.0 ** bits)).double()
            adds += ones @ fans[i].double()
    h = outputs[last]
    shifts = bits * sum(net.n_neurons)
    return {"adds": float(adds.mean()), "shifts": float(shifts), "logits": h}


@torch.no_grad()
def tpc_counts(net: SpikingNetwork, x: torch.Tensor, labels, bits: int) -> dict:
    """Error and operations of an n-bit temporal pattern code version of ``net``.

    Simulated with the "pattern" code (:mod:`spikescope.codes.pattern`) when ``bits`` is at
    most its ``MAX_BITS`` and the network is a chain (the code's windows, one per layer, do
    not fit joins); otherwise counted from the activations' bit patterns
    (:func:`pattern_ops`). Returns error_pct, adds, shifts (per sample) and ops_source.
    """
    labels = torch.as_tensor(labels)
    shifts = float(bits * sum(net.n_neurons))
    if bits <= MAX_BITS and net.is_chain:  # the pattern code simulates chains only
        with torch.enable_grad():  # fan-outs are computed with autograd
            tpc = SpikingNetwork(net.stages, net.lambdas, net.params, code="pattern",
                                 bits=bits, input_shape=net.input_shape, dt_ms=net.dt_ms)
        rec = tpc.run(x, record=())
        err = 100 * (1 - float(rec.accuracy_curve(labels.to(rec.output_counts.device))[-1]))
        return {"error_pct": err, "adds": float(rec.synaptic_ops[-1]), "shifts": shifts,
                "ops_source": "spikescope.codes.pattern simulation"}
    p = pattern_ops(net, x, bits)
    err = 100 * (1 - accuracy(p["logits"], labels))
    return {"error_pct": err, "adds": p["adds"], "shifts": shifts,
            "ops_source": "bit patterns of truncated activations"}


@torch.no_grad()
def table_2_7(net: SpikingNetwork, x: torch.Tensor, labels: torch.Tensor, *,
              act_bits: Sequence[int] = (32, 16, 8), weight_bits: int | None = 8,
              rate_timesteps: int = 50, recording: Recording | None = None) -> pd.DataFrame:
    """The structure of thesis Table 2.7 on ``net``: error and relative cost (eq. 2.32).

    Rows: the ANN with ``b``-bit activations (MAC per connection, add per bias), the rate SNN
    (add per synaptic op over ``rate_timesteps`` steps, add per neuron update), and n-bit
    pattern codes (n <= b; adds = synaptic ops, n shifts per neuron; :func:`tpc_counts`), for
    each activation width b in ``act_bits``; weights have ``weight_bits`` (None: b bits too;
    the thesis' Table 2.7 numbers scale like that, ANN ~4x and rate-SNN 2x per halving of b,
    although its text fixes weights at 8 bits). Unlike the thesis the ANN is not retrained per
    bit width: activations are truncated after training, and the rate SNN (one simulation,
    float state) has the same error in every column. Returns a long table: act_bits, model,
    error_pct, relative_cost, reduction (ANN cost / cost), ops_source.
    """
    labels = torch.as_tensor(labels)
    if recording is None:
        recording = net.run(x, rate_timesteps, record=())
    T = recording.timesteps
    rate_err = 100 * (1 - float(recording.accuracy_curve(labels)[-1]))
    counts = network_counts(net)
    rate_adds = float(recording.synaptic_ops[-1]) + counts.n_neurons * T
    tpc = {n: tpc_counts(net, x, labels, n) for n in act_bits}
    rows = []
    for b in act_bits:
        wb = b if weight_bits is None else weight_bits
        logits = pattern_ops(net, x, b)["logits"] if b < 32 else net.ann_forward(x)
        ann_err = 100 * (1 - accuracy(logits, labels))
        rows.append({"act_bits": b, "model": "ANN", "error_pct": ann_err,
                     "relative_cost": relative_cost(n_mac=counts.connections,
                                                    n_add=counts.n_biases, act_bits=b,
                                                    weight_bits=wb),
                     "ops_source": "connections and biases"})
        rows.append({"act_bits": b, "model": f"rate-SNN (T={T})", "error_pct": rate_err,
                     "relative_cost": relative_cost(n_add=rate_adds, act_bits=b,
                                                    weight_bits=wb),
                     "ops_source": "rate simulation"})
        for n in act_bits:
            if n > b:
                continue
            p = tpc[n]
            rows.append({"act_bits": b, "model": f"TPC {n} bit", "error_pct": p["error_pct"],
                         "relative_cost": relative_cost(n_add=p["adds"], n_shift=p["shifts"],
                                                        act_bits=b, weight_bits=wb),
                         "ops_source": p["ops_source"]})
    df = pd.DataFrame(rows)
    ann = df[df.model == "ANN"].set_index("act_bits")["relative_cost"]
    df["reduction"] = df["act_bits"].map(ann) / df["relative_cost"]
    return df


def format_table_2_7(df: pd.DataFrame) -> pd.DataFrame:
    """Pivot :func:`table_2_7` to the thesis layout: one row per model, per bit width the
    error [%] and the cost with the reduction factor in parentheses."""
    out = {}
    for b, g in df.groupby("act_bits", sort=False):
        g = g.set_index("model")
        out[(f"{b} bit", "Error [%]")] = g["error_pct"].map("{:.2f}".format)
        out[(f"{b} bit", "Cost")] = pd.Series(
            [f"{c:,.0f} ({r:.1f}x)" if m != "ANN" else f"{c:,.0f}"
             for m, c, r in zip(g.index, g.relative_cost, g.reduction)], index=g.index)
    order = list(dict.fromkeys(df.model))
    return pd.DataFrame(out).reindex(order).fillna("")
