"""One grid point: the seeded data subsets, convert + simulate + measure (:func:`run_point`),
and the energy, delay and EDP columns per platform (thesis Sec. 3.3.1)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import energy, zoo
from ..convert import convert
from ..data import datasets
from ..sim.recording import Recording

ENCODING_KEYS = ("max_rate_hz",)


def select_data(dataset: str, calibration_size: int, eval_size: int | None,
                seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_calibration, x_eval, y_eval): seeded subsets of the train and test splits."""
    xtr, _ = datasets.load(dataset, "train")
    xte, yte = datasets.load(dataset, "test")
    gen = torch.Generator().manual_seed(int(seed))
    cal = torch.randperm(len(xtr), generator=gen)[:int(calibration_size)]
    ev = torch.randperm(len(xte), generator=gen)
    if eval_size is not None:
        ev = ev[:int(eval_size)]
    return xtr[cal].contiguous(), xte[ev].contiguous(), yte[ev].contiguous()


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    # One thread per task: the same numbers in-process and on single-threaded dask workers,
    # and no oversubscription when several workers share the cores.
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def curve_steps(timesteps: int, n: int) -> np.ndarray:
    """Up to ``n`` steps (1-based counts, always including T) at which curves are kept."""
    return np.unique(np.linspace(1, timesteps, min(n, timesteps)).round().astype(int))


def energy_platforms(names: Sequence[str] | None = None) -> list[energy.Platform]:
    """The :mod:`spikescope.energy` platforms to cost each point on: the named ones, or every
    chip with an energy per synaptic op. Resolved in the client so that platforms added or
    edited there reach the workers."""
    if names is None:
        return [p for p in energy.PLATFORMS.values() if p.energy_per_sop_j is not None]
    return [energy.get_platform(n) for n in names]


def _energy_columns(recording: Recording, labels: torch.Tensor,
                    platforms: Sequence[energy.Platform] | None) -> dict[str, float]:
    """Energy [J], delay [s] and EDP [J s] at T per platform, as columns ``COLUMN@PLATFORM``
    (thesis Sec. 3.3.1, via :func:`spikescope.energy.tradeoff`)."""
    out: dict[str, float] = {}
    for p in platforms or ():
        last = energy.tradeoff(recording, labels, p).iloc[-1]
        for col in ("energy_j", "delay_s", "edp_js"):
            out[f"{col}@{p.name}"] = float(last[col])
    return out


def run_point(point: Mapping[str, Any], model: nn.Module,
              data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], seed: int = 0,
              curve_points: int = 20, platforms: Sequence | None = None) -> dict[str, Any]:
    """Convert, simulate and measure one grid point; returns one result row (plain values)."""
    t0 = time.perf_counter()
    x_cal, x_eval, y_eval = data
    settings = {k: v for k, v in point.items() if k not in ("point_id", "dataset", "model")}
    T = int(settings.pop("timesteps"))
    encoding = settings.pop("encoding")
    enc_opts = {k: settings.pop(k) for k in ENCODING_KEYS if k in settings}
    if encoding == "poisson":
        enc_opts.setdefault("seed", int(seed))
    with _torch_threads(1):
        torch.manual_seed(int(seed))
        net = convert(model, x_cal, **settings)
        rec = net.run(x_eval, T, encoding=encoding, record=(), **enc_opts)
        acc = rec.accuracy_curve(y_eval)
        ops = rec.synaptic_ops.double().cpu().numpy()
        steps = curve_steps(T, curve_points)
        row = {
            "point_id": point["point_id"],
            **{k: point[k] for k in point if k != "point_id"},
            "seed": int(seed),
            "n_eval": len(y_eval),
            "n_calibration": len(x_cal),
            "accuracy": float(acc[-1]),
            "ann_accuracy": zoo.accuracy(model, x_eval, y_eval),
            "synaptic_ops": float(ops[-1]),
            "spikes_per_sample": float(rec.total_spikes.double().mean()),
            "lambdas": [float(v) for v in net.lambdas],
            "curve_t": steps.tolist(),
            "curve_accuracy": [float(acc[s - 1]) for s in steps],
            "curve_ops": [float(ops[s - 1]) for s in steps],
            **_energy_columns(rec, y_eval, platforms),
        }
    row["elapsed_s"] = time.perf_counter() - t0
    row["host"] = socket.gethostname()
    return row
