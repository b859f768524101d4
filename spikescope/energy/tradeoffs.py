"""Accuracy against cost over time: EDP, the trade-off table per time step (thesis Fig. 3.10),
the ANN's point, an early-decision policy and the Pareto front.

``energy = SOPs x J/SOP (+ power x delay)``, ``delay = steps x seconds per step``,
``EDP = energy x delay`` (thesis Sec. 3.3.1). Energies are in joules (``*_j``), delays in
seconds (``*_s``), EDP in joule-seconds (``*_js``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

from ..metrics import accuracy
from ..sim.network import SpikingNetwork
from ..sim.recording import Recording
from .costs import CostModel, ann_energy_j, network_counts
from .platforms import Platform, get_platform

_HOROWITZ = CostModel()  # fp32, SRAM


def edp(energy: float | np.ndarray, delay: float | np.ndarray) -> float | np.ndarray:
    """Energy-delay product in J*s: energy [J] x delay [s] (Gaudet 2014; thesis Sec. 3.3.1).

    Works on floats and numpy arrays. Example: ``edp(12.06e-3, 6.65e-3)`` = 8.02e-5 J*s.
    """
    e, d = np.asarray(energy, dtype=float), np.asarray(delay, dtype=float)
    if np.any(e < 0) or np.any(d < 0):
        raise ValueError("energy and delay must be non-negative")
    out = e * d
    return float(out) if out.ndim == 0 else out


def _neuromorphic(platform: str | Platform) -> Platform:
    p = get_platform(platform)
    if p.energy_per_sop_j is None:
        raise ValueError(f"platform {p.name!r} has no energy per synaptic op (it is a "
                         f"reference row with per-inference figures); choose a chip")
    return p


def tradeoff(recording: Recording, labels, platform: str | Platform = "Loihi", *,
             seconds_per_step: float | None = None) -> pd.DataFrame:
    """Accuracy, cost and EDP after every time step t (thesis Fig. 3.10).

    Columns: t (steps run, 1..T), accuracy, synaptic_ops (cumulative per sample, batch mean),
    spikes (cumulative per sample), energy_j = synaptic_ops x J/SOP + static power x delay,
    delay_s = t x seconds per step, edp_js = energy_j x delay_s. ``seconds_per_step``
    overrides the platform's. ``df.attrs`` holds the platform name and delay source. Add the
    ANN's point with :func:`ann_point` and an early-decision policy with
    :func:`early_decision`. :func:`tradeoff_curves` builds the same table from the curves.
    """
    return tradeoff_curves(
        recording.accuracy_curve(labels), recording.synaptic_ops.double().cpu().numpy(),
        recording.layer_spikes.double().sum(2).mean(1).cumsum(0).cpu().numpy(),
        recording.dt_ms, platform, seconds_per_step=seconds_per_step)


def tradeoff_curves(accuracy: np.ndarray, synaptic_ops: np.ndarray, spikes: np.ndarray,
                    dt_ms: float, platform: str | Platform = "Loihi", *,
                    seconds_per_step: float | None = None) -> pd.DataFrame:
    """:func:`tradeoff`'s table from per-step curves instead of a recording.

    ``accuracy``, ``synaptic_ops`` and ``spikes`` are (T,) after each step (the last two
    cumulative per sample), e.g. those of :class:`spikescope.sim.merge.RunTotals`; ``dt_ms``
    is the simulation step in ms.
    """
    p = _neuromorphic(platform)
    step_s = seconds_per_step if seconds_per_step is not None else p.step_s(dt_ms)
    if not step_s > 0:
        raise ValueError(f"seconds_per_step must be positive, got {step_s}")
    ops = np.asarray(synaptic_ops, dtype=float)
    t = np.arange(1, len(ops) + 1)
    delay = t * step_s
    energy = ops * p.energy_per_sop_j + p.static_power_w * delay
    df = pd.DataFrame({"t": t, "accuracy": np.asarray(accuracy, dtype=float),
                       "synaptic_ops": ops, "spikes": np.asarray(spikes, dtype=float),
                       "energy_j": energy, "delay_s": delay, "edp_js": edp(energy, delay)})
    df.attrs.update(platform=p.name, seconds_per_step=step_s,
                    delay_source=p.delay_source if seconds_per_step is None else "user")
    return df


@torch.no_grad()
def ann_point(net: SpikingNetwork, x: torch.Tensor, labels, *,
              cost_model: CostModel = _HOROWITZ,
              platform: str | Platform = "CPU (Blouw 2019)",
              energy_j: float | None = None, delay_s: float | None = None) -> dict:
    """The ANN on the trade-off axes: accuracy, ops (MACs), energy_j, delay_s, edp_js.

    Energy: ``energy_j`` if given, else the Horowitz cost model of this ANN (``cost_model``).
    Delay: ``delay_s`` if given, else the platform's seconds per inference (default: the CPU
    of Blouw et al. 2019, a comparable small network; override for your hardware).
    """
    acc = accuracy(net.ann_forward(x), labels)
    counts = network_counts(net)
    p = get_platform(platform)
    energy_source = "given"
    if energy_j is None:
        energy_j = ann_energy_j(counts, cost_model)["energy_j"]
        energy_source = (f"Horowitz 45 nm, {cost_model.arithmetic}, "
                         f"memory {cost_model.memory or 'off'}")
    if delay_s is None:
        delay_s = p.seconds_per_inference
        if delay_s is None:
            raise ValueError(f"platform {p.name!r} has no time per inference; pass delay_s")
    return {"model": "ANN", "accuracy": acc, "synaptic_ops": float(counts.connections),
            "energy_j": float(energy_j), "delay_s": float(delay_s),
            "edp_js": edp(energy_j, delay_s), "energy_source": energy_source,
            "delay_source": p.name if delay_s == p.seconds_per_inference else "given"}


def per_sample_ops(recording: Recording, net: SpikingNetwork | None = None) -> torch.Tensor:
    """(T, B) cumulative synaptic operations of each sample.

    Exact from the spike trains when ``net`` is given and spikes were recorded; otherwise
    each layer's spikes times its batch-mean ops per spike at that step (exact for uniform
    fan-out, e.g. fully connected layers). The input's ops are the batch mean either way.
    """
    spikes = recording.layer_spikes.double()  # (T, B, L)
    ops = recording.layer_ops.double()  # (T, L + 1)
    if net is not None and recording.spike_trains is not None:
        per = sum(tr.double() @ f.double().to(tr.device)
                  for tr, f in zip(recording.spike_trains, net.fan_outs))
    else:
        mean_spikes = spikes.mean(1)
        per_spike = torch.where(mean_spikes > 0, ops[:, 1:] / mean_spikes.clamp(min=1e-12),
                                torch.zeros_like(mean_spikes))
        per = (spikes * per_spike[:, None, :]).sum(2)
    return (per + ops[:, :1]).cumsum(0)


def output_lead(recording: Recording) -> torch.Tensor:
    """(T, B) spikes by which the leading output neuron leads the runner-up."""
    if recording.readout != "spikes":
        raise ValueError("the early-decision policy needs spike-count readout")
    counts = recording.output_counts.float()
    if counts.shape[2] == 1:
        return counts[..., 0]
    top2 = counts.topk(2, dim=2).values
    return top2[..., 0] - top2[..., 1]


def decision_steps(recording: Recording, k: int) -> torch.Tensor:
    """(B,) 0-based step at which each sample's leading output first leads the runner-up by
    ``k`` spikes (the last step if it never does)."""
    return _first_lead_step(output_lead(recording), k)


def _first_lead_step(lead: torch.Tensor, k: int) -> torch.Tensor:
    """(B,) first step where ``lead`` (T, B) reaches ``k`` (the last step if never)."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer number of spikes, got {k}")
    decided = lead >= k
    first = torch.where(decided.any(0), decided.float().argmax(0),
                        torch.full_like(decided[0], len(lead) - 1, dtype=torch.long))
    return first.long()


def decision_samples(recording: Recording, labels, ks: Iterable[int], *,
                     net: SpikingNetwork | None = None) -> dict[int, dict[str, np.ndarray]]:
    """Per lead k of ``ks`` and per sample, the early-decision policy: ``stop`` (0-based
    step it stops at), ``correct`` (its answer there is the label), ``ops`` (cumulative
    synaptic operations there, :func:`per_sample_ops`) and ``decided`` (the lead was reached
    before the run ended). Predictions, operations and leads are computed once for all k.
    Batches' results concatenate; :func:`decision_summary` prices them."""
    idx = torch.arange(recording.batch_size)
    pred = recording.all_predictions().cpu()
    ops = per_sample_ops(recording, net).cpu()
    lead = output_lead(recording).cpu()
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    out = {}
    for k in ks:
        stop = _first_lead_step(lead, k)
        out[int(k)] = {"stop": stop.numpy(), "correct": (pred[stop, idx] == labels).numpy(),
                       "ops": ops[stop, idx].numpy(), "decided": (lead[stop, idx] >= k).numpy()}
    return out


def decision_summary(samples: dict[str, np.ndarray], k: int, dt_ms: float,
                     platform: str | Platform = "Loihi", *,
                     seconds_per_step: float | None = None) -> dict:
    """:func:`early_decision`'s row from :func:`decision_samples` (of one or more batches):
    delay = (stop + 1) steps, energy = ops x J/SOP + static power x delay, both per sample;
    the means and their EDP."""
    p = _neuromorphic(platform)
    step_s = seconds_per_step if seconds_per_step is not None else p.step_s(dt_ms)
    stop = np.asarray(samples["stop"], dtype=float)
    ops = np.asarray(samples["ops"], dtype=float)
    delay = (stop + 1) * step_s
    energy = ops * p.energy_per_sop_j + p.static_power_w * delay
    e, d = float(energy.mean()), float(delay.mean())
    return {"k": int(k), "accuracy": float(np.mean(samples["correct"])),
            "decided": float(np.mean(samples["decided"])), "steps": float(stop.mean() + 1),
            "synaptic_ops": float(ops.mean()), "energy_j": e, "delay_s": d,
            "edp_js": edp(e, d)}


def early_decision(recording: Recording, labels, k: int, platform: str | Platform = "Loihi",
                   *, net: SpikingNetwork | None = None,
                   seconds_per_step: float | None = None) -> dict:
    """Stop each sample once its output leads by ``k`` spikes; its accuracy and costs.

    Returns k, accuracy, decided (fraction that reached the lead before the run ended),
    mean steps, synaptic_ops, energy_j, delay_s (means over samples) and
    edp_js = energy_j x delay_s of those means (the same convention as :func:`tradeoff`).
    """
    return decision_summary(decision_samples(recording, labels, [k], net=net)[int(k)], k,
                            recording.dt_ms, platform, seconds_per_step=seconds_per_step)


def early_decision_curve(recording: Recording, labels, platform: str | Platform = "Loihi",
                         ks: Iterable[int] = (1, 2, 3, 5, 8, 13, 20), *,
                         net: SpikingNetwork | None = None,
                         seconds_per_step: float | None = None) -> pd.DataFrame:
    """:func:`early_decision` for several k, one row each (the per-sample operations
    computed once for all k)."""
    samples = decision_samples(recording, labels, ks, net=net)
    return pd.DataFrame([decision_summary(s, k, recording.dt_ms, platform,
                                          seconds_per_step=seconds_per_step)
                         for k, s in samples.items()])



def pareto_front(df: pd.DataFrame, x: str = "edp_js", y: str = "accuracy", *,
                 x_better: str = "lower", y_better: str = "higher", ties: str = "first",
                 finite_only: bool = False) -> pd.DataFrame:
    """Rows not dominated by another, sorted by ``x`` from best to worst: the best ``y``
    reachable at each ``x`` (by default the highest accuracy at each EDP).

    A row is dominated by one with a better-or-equal ``x`` and a strictly better ``y``, or
    with a strictly better ``x`` and an equal ``y``; which end is better is ``x_better`` /
    ``y_better`` ("lower" or "higher"). Rows identical in (x, y): ``ties="first"`` keeps the
    first of them (in the sort order, which keeps the table's order among equals),
    ``ties="all"`` keeps every one. Missing or infinite values: with ``finite_only`` such rows
    are left out; without, they are ordered as pandas sorts them (NaN last) and a NaN ``y``
    never makes the front.
    """
    for name, v in (("x_better", x_better), ("y_better", y_better)):
        if v not in ("lower", "higher"):
            raise ValueError(f"{name} must be 'lower' or 'higher', got {v!r}")
    if ties not in ("first", "all"):
        raise ValueError(f"ties must be 'first' or 'all', got {ties!r}")
    if finite_only:
        df = df[np.isfinite(df[x].to_numpy(dtype=float))
                & np.isfinite(df[y].to_numpy(dtype=float))]
    d = df.sort_values([x, y], ascending=[x_better == "lower", y_better == "lower"])
    ys = d[y].to_numpy(dtype=float)
    if y_better == "lower":
        ys = -ys
    keep, best, last = [], -np.inf, None
    for i, (u, v) in enumerate(zip(d[x].to_numpy(), ys)):
        if v > best or (ties == "all" and (u, v) == last):
            keep.append(i)
            best, last = v, (u, v)
    return d.iloc[keep]
