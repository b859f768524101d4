"""Simulation speed of SpikingNetwork against the dense matrix products it must do.

    python benchmarks/core_speed.py [--repeats 7] [--threads 2] [--batches 1 16 64 256]

For digits-cnn and an MLP 784-512-512-10, T = 100, analog input: median wall time of
``run(x, 100, record=())`` and, interleaved in the same run, the two floors: the layers'
synaptic products per step (T products per layer, what a step-by-step simulator computes)
and one product over all T*B rows per layer (what a layer-by-layer simulator computes);
products only, without the pooling between them. Then ``step()`` at batch 1 on one thread
(the dashboard's interactive path), recording nothing and everything.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import spikescope as ss
from spikescope import datasets, layerwise, zoo

T = 100


def mlp_784() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10)).eval()


def models() -> list[tuple[str, ss.SpikingNetwork, torch.Tensor]]:
    """The two benchmark networks, converted, with their inputs."""
    xtr, _ = datasets.load("digits", "train")
    cnn = ss.convert(zoo.load("digits-cnn"), xtr[:500])
    mlp_x = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    mlp = ss.convert(mlp_784(), mlp_x[:256])
    return [("digits-cnn", cnn, xtr), ("mlp-784-512-512-10", mlp, mlp_x)]


def gemm_floors(net: ss.SpikingNetwork, x: torch.Tensor):
    """(per_step, all_t): the synaptic products of every layer on spike-like inputs of the
    layer's real shapes, T times per layer, or once per layer over all T*B rows."""
    ins = []
    with torch.no_grad():
        h = x
        for s in net.simulated_stages:
            z = h
            for op in s.pre:
                z = op(z)
            ins.append(z.contiguous())
            h = (s.ann_forward(h) > 0.5).float()
        big = [z.unsqueeze(0).expand(T, *z.shape).reshape(T * len(z), *z.shape[1:]).contiguous()
               for z in ins]
    stages = net.simulated_stages

    def per_step():
        with torch.no_grad():
            for _ in range(T):
                for s, z in zip(stages, ins):
                    s.synapse(z)

    def all_t():
        with torch.no_grad():
            for s, z in zip(stages, big):
                s.synapse(z)
    return per_step, all_t


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each function, run round-robin ``repeats`` times after one warm-up."""
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def step_ms(net: ss.SpikingNetwork, x: torch.Tensor, repeats: int, record=()) -> float:
    """Median ms per step() at batch 1 (reset, then T steps)."""
    per = []
    for _ in range(repeats):
        net.reset(1, record=record)
        t0 = time.perf_counter()
        for _ in range(T):
            net.step(x)
        per.append((time.perf_counter() - t0) / T)
    return 1e3 * statistics.median(per)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nets = models()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, T={T}, "
          f"median of {args.repeats}")
    print("| model | batch | run() path | run (ms) | per-step products (ms) | "
          "all-T products (ms) | run / per-step | run / all-T |")
    print("|---|---|---|---|---|---|---|---|")
    for batch in args.batches:
        for label, net, x in nets:
            xb = x[:batch]
            per_step, all_t = gemm_floors(net, xb)
            med = interleaved({"run": lambda n=net, x=xb: n.run(x, T, record=()),
                               "per": per_step, "all": all_t}, args.repeats)
            path = "layer by layer" if layerwise.applicable(net, T, batch) else "stepping"
            print(f"| {label} | {batch} | {path} | {med['run']:.2f} | {med['per']:.2f} | "
                  f"{med['all']:.2f} | {med['run'] / med['per']:.2f} | "
                  f"{med['run'] / med['all']:.2f} |")
    torch.set_num_threads(1)
    label, cnn, x = nets[0]
    for record in ((), ("spikes", "membrane")):
        print(f"step() {label} batch 1, 1 thread, recording {record or 'nothing'}: "
              f"{step_ms(cnn, x[:1], args.repeats, record):.3f} ms per step")


if __name__ == "__main__":
    main()
