"""spikescope on a GPU vs SpikingJelly multi-step and snnTorch (one script, < 10 min on an H200).

    python benchmarks/gpu.py [--device cuda] [--repeats 3] [--batches 1 256 4096]
    python benchmarks/gpu.py --smoke          # tiny sizes, any device (CPU here): a dry run

Networks: the MLP 784-512-512-10 (seeded) and the VGG of benchmarks/scale.py, converted by
spikescope and moved to the device; non-leaky IF, reset by subtraction, analog input, T = 100
(--smoke: T = 8, batches 1 and 4, the VGG on 3x8x8 input, one repeat). Per model:

1. Exactness on the device: ``run()`` (layer by layer in blocks, TF32 off) against stepping
   (``fused_kernels = False``): equal output counts and spike counts, or the difference.
2. Agreement of output counts of each peer with spikescope (batch 4).
3. Per batch: medians of interleaved repeats (CUDA-synchronized) of spikescope ``run(x, T,
   record=())``, SpikingJelly multi-step (2.0.0: torch only, it has no backend option),
   snnTorch, and the per-step and all-T product floors; an implementation that runs out of
   memory is reported as such. The all-T floor over T*B rows is computed in chunks of rows
   when one product would not fit (the same operations).
"""

from __future__ import annotations

import argparse
import time

import torch
from scale import T as SCALE_T
from scale import floors, graph_layers, interleaved, peer_sj_multi, peer_snntorch, vgg
from torch import nn

import spikescope as ss
from spikescope.sim import layerwise

PEERS = {"SpikingJelly IFNode multi-step": peer_sj_multi, "snnTorch Leaky": peer_snntorch}


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                         nn.ReLU(), nn.Linear(512, 10)).eval()


def small_vgg() -> nn.Module:
    """The VGG's layer sequence on 3x8x8 input (for --smoke)."""
    model = vgg()
    model[-3] = nn.Linear(256, 256)
    return model


def nets(device: str, smoke: bool):
    g = torch.Generator().manual_seed(1)
    side = 8 if smoke else 32
    x_mlp = torch.rand(4096, 1, 28, 28, generator=g)
    x_vgg = torch.rand(4096, 3, side, side, generator=g)
    out = [("mlp-784-512-512-10", ss.convert(mlp(), x_mlp[:256]), x_mlp),
           ("vgg", ss.convert(small_vgg() if smoke else vgg(), x_vgg[:64], percentile=99.9),
            x_vgg)]
    return [(n, net.to(device), x.to(device)) for n, net, x in out]


def exactness(net, x, steps) -> str:
    rec = net.run(x, steps, record=())
    net.fused_kernels = False
    try:
        ref = net.run(x, steps, record=())
    finally:
        net.fused_kernels = True
    same = torch.equal(rec.output_counts, ref.output_counts) and all(
        torch.equal(a, b) for a, b in zip(rec.spike_counts, ref.spike_counts))
    if same:
        return "equal (output counts and every spike count)"
    diff = sum(int((a != b).sum()) for a, b in zip(rec.spike_counts, ref.spike_counts))
    return f"DIFFERENT: {diff} spike counts differ"


def guarded(f, sync):
    """f, or a function that reports running out of memory (then raises nothing)."""
    state = {"oom": False}

    def run():
        if state["oom"]:
            return
        try:
            f()
        except torch.OutOfMemoryError:
            state["oom"] = True
            torch.cuda.empty_cache() if torch.cuda.is_available() else None
        sync()
    return run, state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 256, 4096])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a dry run on any device")
    args = ap.parse_args()
    steps = 8 if args.smoke else SCALE_T
    batches = [1, 4] if args.smoke else args.batches
    repeats = 1 if args.smoke else args.repeats
    import scale
    scale.T = steps  # the peers and floors of scale.py read it
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {name}, T={steps}, median of {repeats}; "
          f"block budget {layerwise.BLOCK_ELEMENTS} elements")
    t_start = time.perf_counter()
    models = nets(args.device, args.smoke)
    print("\n| model | run() vs stepping on the device |\n|---|---|")
    for label, net, x in models:
        print(f"| {label} | {exactness(net, x[:8], steps)} |", flush=True)
    print("\n| model | peer | equal output counts |\n|---|---|---|")
    for label, net, x in models:
        ref = net.run(x[:4], steps, record=()).output_counts[-1].float()
        layers = graph_layers(net)
        with torch.no_grad():
            for peer, make in PEERS.items():
                out = make(layers)(x[:4]).reshape(ref.shape)
                print(f"| {label} | {peer} | {100 * (out == ref).float().mean():.2f}% |")
    print("\n| model | batch | implementation | median (ms) | / spikescope | / all-T floor |"
          "\n|---|---|---|---|---|---|")
    for batch in batches:
        for label, net, x in models:
            xb = x[:batch]
            fns = {"spikescope run()": lambda n=net, x=xb: n.run(x, steps, record=())}
            layers = graph_layers(net)
            runs = {k: make(layers) for k, make in PEERS.items()}
            fns.update({k: (lambda r=r, x=xb: r(x)) for k, r in runs.items()})
            # all-T products in chunks of rows of at most ~1e9 elements per tensor
            chunks = max(1, -(-steps * batch * layerwise.widest(net) // 10**9))
            fns["floor: per-step products"], fns["floor: all-T products"] = \
                floors(net, xb, chunks)
            guards = {k: guarded(f, sync) for k, f in fns.items()}
            with torch.no_grad():
                med, _ = interleaved({k: g[0] for k, g in guards.items()}, repeats, sync)
            base, floor = med["spikescope run()"], med.get("floor: all-T products", float("nan"))
            for k, v in med.items():
                if guards[k][1]["oom"]:
                    print(f"| {label} | {batch} | {k} | out of memory | | |")
                    continue
                print(f"| {label} | {batch} | {k} | {v:.1f} | {v / base:.2f} | "
                      f"{v / floor:.2f} |", flush=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
