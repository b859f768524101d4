"""Simulation speed of SpikingNetwork.run against the dense matrix products it must do.

    python benchmarks/core_speed.py [--repeats 7] [--threads 2]

For digits-cnn and an MLP 784-512-512-10, batch 1 and 256, T = 100: median wall time of
``run(x, 100, record=())`` and, measured interleaved in the same run, the GEMM reference:
the same layers' synaptic products done per step (T x one product per layer) — what any
step-by-step simulator must compute. Reports steps/s and the ratio run / GEMM.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import spikescope as ss
from spikescope import datasets, zoo

T = 100


def mlp_784() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10)).eval()


def gemm_reference(net: ss.SpikingNetwork, x: torch.Tensor):
    """Per-step synaptic products of every layer on the layer's real input shapes."""
    inputs = [x]
    with torch.no_grad():
        h = x
        for s in net.stages:
            h = s.ann_forward(h)
            inputs.append((h > 0.5).float())
        pre = []
        for l, s in enumerate(net.stages):
            z = inputs[l]
            for op in s.pre:
                z = op(z)
            pre.append(z.contiguous())

    def run():
        with torch.no_grad():
            for _ in range(T):
                for s, z in zip(net.stages, pre):
                    s.synapse(z)
    return run


def bench(label: str, net: ss.SpikingNetwork, x: torch.Tensor, repeats: int) -> dict:
    def snn():
        net.run(x, T, record=())
    gemm = gemm_reference(net, x)
    snn(), gemm()  # warm up
    t_snn, t_gemm = [], []
    for _ in range(repeats):
        for f, acc in ((snn, t_snn), (gemm, t_gemm)):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    s, g = statistics.median(t_snn), statistics.median(t_gemm)
    return {"model": label, "batch": len(x), "run_ms": 1e3 * s, "gemm_ms": 1e3 * g,
            "steps_per_s": T / s, "ratio": s / g}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    xtr, _ = datasets.load("digits", "train")
    cnn = ss.convert(zoo.load("digits-cnn"), xtr[:500])
    mlp_x = torch.rand(512, 1, 28, 28)
    mlp = ss.convert(mlp_784(), mlp_x[:256])
    rows = []
    for batch in (1, 256):
        rows.append(bench("digits-cnn", cnn, xtr[:batch], args.repeats))
        rows.append(bench("mlp-784-512-512-10", mlp, mlp_x[:batch], args.repeats))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, T={T}, "
          f"median of {args.repeats}")
    print("| model | batch | run (ms) | steps/s | per-step GEMMs (ms) | run / GEMM |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['run_ms']:.1f} | {r['steps_per_s']:.0f} | "
              f"{r['gemm_ms']:.1f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
