"""Experiments across spike codes: classification error versus operations (thesis Fig. 2.9,
Fig. 2.11, Tables 2.3/2.4).

Every SNN is counted on the same footing: synaptic operations = spikes (input spikes and
events included) x fan-out, summed over all simulated steps (eq. 2.22); the ANN by eq. 2.21.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .convert import convert
from .metrics import ann_ops, model_accuracy
from .sim.recording import Recording
from .training.clamped import finetune_clamped

COLUMNS = ["code", "variant", "steps", "bits", "error", "synaptic_ops", "spikes", "ann_ops",
           "ops", "ops_ratio", "threshold_update_ops"]


def _rows(rec: Recording, y: torch.Tensor, steps: Sequence[int], code: str, variant: str,
          n_ann: int, bits: int | None = None) -> list[dict]:
    acc = rec.accuracy_curve(y)
    ops = rec.synaptic_ops.cpu().numpy()
    spikes = rec.layer_spikes.float().mean(1).sum(1).cumsum(0).cpu().numpy()  # (T,) per sample
    flags = rec.extras.get("threshold_update_ops")
    rows = []
    for t in steps:
        i = min(int(t), rec.timesteps) - 1
        rows.append({"code": code, "variant": variant, "steps": i + 1,
                     "bits": np.nan if bits is None else bits, "error": 1.0 - float(acc[i]),
                     "synaptic_ops": float(ops[i]), "spikes": float(spikes[i]),
                     "ann_ops": n_ann, "ops": float(ops[i]),
                     "ops_ratio": n_ann / float(ops[i]) if ops[i] > 0 else np.inf,
                     "threshold_update_ops": float(flags[i]) if flags is not None else 0.0})
    return rows


@torch.no_grad()
def _ann_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return 1.0 - model_accuracy(model, x, y)


def error_vs_ops(model: nn.Module, x_cal: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *,
                 y_cal: torch.Tensor | None = None, percentile: float | None = 99.9,
                 rate_steps: Sequence[int] = (5, 10, 20, 30, 50, 100),
                 ttfs_steps: Sequence[int] = (2, 3, 4, 6, 8, 16, 32),
                 ttfs_encoding: str = "ttfs",
                 bits: Sequence[int] = (2, 3, 4, 5, 6, 8, 12, 16),
                 pattern_percentile: float | None = 100.0,
                 clamped_model: nn.Module | None = None, beta: float = 0.1,
                 finetune_epochs: int = 10, progress: bool = False) -> pd.DataFrame:
    """Error versus operations of the ANN and its rate, TTFS and pattern-coded SNNs.

    Args:
        model: trained ANN. x_cal: calibration (normalization) inputs. x, y: test set.
        y_cal: labels of ``x_cal``; with them (and no ``clamped_model``) the ANN is fine-tuned
            with the clamped ReLU (``beta``, ``finetune_epochs``) for the "ttfs-clamped" rows.
        percentile: normalization percentile of the rate and TTFS codes.
        rate_steps, ttfs_steps: steps at which to read the (single, longest) run's error/ops.
        ttfs_encoding: input of the TTFS codes ("ttfs": one spike per pixel, or "analog").
        bits: word lengths n of the pattern code; each is a full run of L * n steps.
        pattern_percentile: normalization of the pattern code (100 = max-norm, so that
            activations fit [0, 1) and the code is exact).

    Returns a tidy DataFrame with columns :data:`COLUMNS`: one row per (code, variant, steps);
    ``ops`` is ``synaptic_ops`` for SNNs and the ANN's eq. 2.21 count for the ANN row;
    ``spikes`` is spikes per sample emitted by the network's layers; ``ops_ratio`` =
    ann_ops / ops; ``threshold_update_ops`` is the part of ``synaptic_ops`` spent on the
    dynamic threshold's flags.
    """
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).long()
    x_cal = torch.as_tensor(x_cal).float()
    n_ann = ann_ops(model, tuple(x.shape[1:]))
    rows = [{"code": "ann", "variant": "float32", "steps": np.nan, "bits": np.nan,
             "error": _ann_error(model, x, y), "synaptic_ops": np.nan, "spikes": np.nan,
             "ann_ops": n_ann, "ops": float(n_ann), "ops_ratio": 1.0,
             "threshold_update_ops": 0.0}]
    net = convert(model, x_cal, percentile=percentile, code="rate")
    rec = net.run(x, max(rate_steps), record=(), progress=progress)
    rows += _rows(rec, y, rate_steps, "rate", "analog input", n_ann)

    variants: list[tuple[str, nn.Module, dict]] = [("ttfs", model, {}),
                                                   ("ttfs-dyn-thresh", model, {})]
    if clamped_model is None and y_cal is not None:
        clamped_model = finetune_clamped(model, x_cal, y_cal, beta, epochs=finetune_epochs,
                                         progress=progress)
    if clamped_model is not None:
        variants.append(("ttfs-clamped", clamped_model, {"beta": beta}))
    for code, m, opts in variants:
        net = convert(m, x_cal, percentile=percentile, code=code, **opts)
        rec = net.run(x, max(ttfs_steps), encoding=ttfs_encoding, record=(), progress=progress)
        variant = f"{ttfs_encoding} input" + (f", beta={beta}" if "beta" in opts else "")
        rows += _rows(rec, y, ttfs_steps, code, variant, n_ann)

    for n in bits:
        net = convert(model, x_cal, percentile=pattern_percentile, code="pattern", bits=n)
        rec = net.run(x, record=(), progress=progress)
        rows += _rows(rec, y, [net.inference_steps], "pattern", f"{n} bit", n_ann, bits=n)
    return pd.DataFrame(rows, columns=COLUMNS)
