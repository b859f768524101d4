"""Thesis Table 2.3 (LeNet-5, Sec. 2.2.3) for the shipped lenet5 on digits28, beside the thesis.

Rows: the ANN (eq. 2.21 operations), the rate code at two step counts, and the three TTFS
variants (clamped after finetune_clamped). TTFS runs stop at the first output spike (Sec.
2.2.3); the input is the constant analog current of eq. 2.20, sent once (one event per non-zero
pixel). Operations are eq. 2.22 (spikes x fan-out, input included); for "TTFS dyn thresh" the
threshold-update messages (each change of a flag H_j of eq. 2.28 x fan-out of j) are shown
apart and added in the last row. ``--sparse 0.5`` zeroes pixels <= 0.5 (train and test): the
sparse-input set. With $SPIKESCOPE_MNIST set, ``--data mnist`` uses MNIST (the shipped lenet5
was trained on digits28; fine-tune it first for a fair MNIST table).

    .venv/bin/python scripts/ttfs_table.py [--n 360] [--steps 60] [--sparse 0.5]
        [--threshold 4 --steps 240]
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from spikescope import convert, datasets, metrics, zoo
from spikescope.training.clamped import finetune_clamped

THESIS = {"ANN": (2.35, 1.04), "rate (T1)": (3.03, 1.07), "rate (T2)": (1.07, 2.07),
          "TTFS base": (0.31, 2.00), "TTFS dyn thresh": (0.34, 1.80),
          "TTFS dyn thresh + updates": (None, None), "TTFS clamped": (0.23, 1.47)}


def _err(pred: torch.Tensor, y: torch.Tensor) -> float:
    return round(float((pred.cpu() != y).float().mean()) * 100, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits28")
    ap.add_argument("--n", type=int, default=None, help="test samples (default: all)")
    ap.add_argument("--steps", type=int, default=60, help="TTFS steps (decisions come early)")
    ap.add_argument("--rate-steps", default="44,18", help="the two rate-code step counts")
    ap.add_argument("--percentile", type=float, default=99.9)
    ap.add_argument("--beta", type=float, default=0.1, help="clamped ReLU beta (ANN units)")
    ap.add_argument("--epochs", type=int, default=5, help="finetune_clamped epochs")
    ap.add_argument("--sparse", type=float, default=None, help="zero pixels <= this value")
    ap.add_argument("--threshold", type=float, default=1.0,
                    help="TTFS threshold theta: the time grid (activation a fires at theta/a; "
                         "scale --steps with it)")
    a = ap.parse_args()
    xtr, ytr = datasets.load(a.data, "train")
    x, y = datasets.load(a.data, "test")
    if a.sparse is not None:
        xtr, x = xtr * (xtr > a.sparse), x * (x > a.sparse)
    if a.n:
        x, y = x[:a.n], y[:a.n]
    model, calib = zoo.load("lenet5"), xtr[:500]
    rows = []
    with torch.no_grad():
        rows.append(("ANN", metrics.ann_ops(model, tuple(x.shape[1:])), None,
                     _err(model(x).argmax(1), y)))
    t1, t2 = (int(s) for s in a.rate_steps.split(","))
    rate = convert(model, calib, percentile=a.percentile, code="rate").run(x, t1, record=())
    for label, t in (("rate (T1)", t1), ("rate (T2)", t2)):
        rows.append((f"{label} = {t} steps"[:24], float(rate.synaptic_ops[t - 1]), None,
                     _err(rate.predictions(t - 1), y)))
    for label, code in (("TTFS base", "ttfs"), ("TTFS dyn thresh", "ttfs-dyn-thresh")):
        rec = convert(model, calib, percentile=a.percentile, code=code,
                      threshold=a.threshold).run(x, a.steps, record=())
        ops = float(rec.synaptic_ops[-1])
        flags = rec.extras.get("threshold_update_ops")
        flags = float(flags[-1]) if flags is not None else None
        rows.append((label, ops - (flags or 0), flags, _err(rec.predictions(), y)))
        if flags is not None:
            rows.append(("TTFS dyn thresh + updates", ops, None, rows[-1][3]))
    tuned = finetune_clamped(model, xtr, ytr, beta=a.beta, epochs=a.epochs, progress=False)
    net = convert(tuned, calib, percentile=a.percentile, code="ttfs-clamped", beta=a.beta,
                  threshold=a.threshold)
    rec = net.run(x, a.steps, record=())
    rows.append(("TTFS clamped", float(rec.synaptic_ops[-1]), None, _err(rec.predictions(), y)))
    with torch.no_grad():
        tuned_err = _err(tuned(x).argmax(1), y)
    table = pd.DataFrame(rows, columns=["model", "ops", "flag ops", "err %"])
    table["MOps"] = (table.ops / 1e6).round(3)
    table["flag MOps"] = (table["flag ops"] / 1e6).round(3)
    table["thesis MOps"] = [THESIS.get(_key(m), (None,))[0] for m in table.model]
    table["thesis err %"] = [THESIS.get(_key(m), (None, None))[1] for m in table.model]
    print(f"{a.data}{' sparse > ' + str(a.sparse) if a.sparse is not None else ''}, "
          f"{len(x)} test samples, percentile {a.percentile}, TTFS {a.steps} steps, threshold "
          f"{a.threshold:g}, analog "
          f"input; clamped ANN (beta {a.beta}) error {tuned_err}%")
    print(table.drop(columns=["ops", "flag ops"]).to_string(index=False))


def _key(model: str) -> str:
    return model.split(" = ")[0]


if __name__ == "__main__":
    main()
