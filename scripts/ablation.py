"""Thesis Fig. 2.3 on digits-cnn: the conversion mechanisms added one by one.

    python scripts/ablation.py [--timesteps 100] [--model digits-cnn]

Rows: default (no normalization, Poisson input, reset to zero), + max-norm normalization,
+ reset by subtraction, + analog input, + 99.9th percentile. Prints error (%) at T and the
ANN's error for reference.
"""

import argparse

import torch

import spikescope as ss
from spikescope import datasets, zoo

STEPS = [
    ("default: no norm, Poisson, reset to zero", dict(percentile=None, reset="zero"), "poisson"),
    ("+ normalization (max)", dict(percentile=100, reset="zero"), "poisson"),
    ("+ reset by subtraction", dict(percentile=100, reset="subtract"), "poisson"),
    ("+ analog input", dict(percentile=100, reset="subtract"), "analog"),
    ("+ 99.9th percentile", dict(percentile=99.9, reset="subtract"), "analog"),
]


def ablation(model_name: str = "digits-cnn", timesteps: int = 100, seed: int = 0) -> list[dict]:
    """Error rate of each row of Fig. 2.3 at ``timesteps`` and the ANN's error."""
    model = zoo.load(model_name)
    data = zoo.dataset_of(model_name)
    xtr, _ = datasets.load(data, "train")
    xte, yte = datasets.load(data, "test")
    rows = [{"setting": "ANN", "error_pct": 100 * (1 - zoo.accuracy(model, xte, yte))}]
    for label, kw, enc in STEPS:
        net = ss.convert(model, xtr, **kw)
        rec = net.run(xte, timesteps, encoding=enc, seed=seed, record=())
        acc = rec.accuracy_curve(yte)
        rows.append({"setting": label, "error_pct": 100 * (1 - acc[-1]),
                     "error_pct_at_T/4": 100 * (1 - acc[timesteps // 4 - 1])})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="digits-cnn")
    ap.add_argument("--timesteps", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = ablation(args.model, args.timesteps)
    q = args.timesteps // 4
    print(f"| setting ({args.model}) | error % at T={args.timesteps} | error % at T={q} |")
    print("|---|---|---|")
    for r in rows:
        early = r.get("error_pct_at_T/4", r["error_pct"])
        print(f"| {r['setting']} | {r['error_pct']:.2f} | {early:.2f} |")


if __name__ == "__main__":
    main()
