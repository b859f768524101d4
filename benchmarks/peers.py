"""spikescope against snnTorch, Norse and SpikingJelly on the same converted network.

    python benchmarks/peers.py [--repeats 5] [--threads 2] [--batches 1 256]

Networks: digits-cnn (shipped) and an MLP 784-512-512-10 (seeded), converted by spikescope;
every peer gets the same normalized weights. Non-leaky IF neurons, threshold 1, reset by
subtraction, analog input (constant current), zero-delay propagation, T = 100.

1. Agreement: output spike counts of every peer vs spikescope on the same inputs.
2. Speed: median wall time over interleaved repeats at each batch size, with the dense
   products of the same shapes in the same run: per-step products (T products per layer) and
   one product over all T*B rows per layer (the floor for any simulator of this network);
   products only, without the pooling between them.

Peers are optional: one that does not import is skipped with a note. Install them without
letting pip resolve their torchvision dependency (see benchmarks/requirements-peers.txt).
"""

from __future__ import annotations

import argparse
import platform

import torch
from core_speed import T, gemm_floors, interleaved, models
from torch import nn

from spikescope.neurons import NeuronParams
from spikescope.sim.network import SpikingNetwork


def torch_layers(net: SpikingNetwork) -> list[nn.Sequential]:
    """Per spiking layer: its pre ops and synapse as plain torch modules, with the weights
    spikescope simulates (normalized; spike-fed layers on their exact-sum grid)."""
    out = []
    for s in net.simulated_stages:
        if s.kind == "linear":
            syn = nn.Linear(s.weight.shape[1], s.weight.shape[0])
        else:
            syn = nn.Conv2d(s.weight.shape[1] * s.groups, s.weight.shape[0],
                            tuple(s.weight.shape[2:]), stride=s.stride, padding=s.padding,
                            dilation=s.dilation, groups=s.groups)
        with torch.no_grad():
            syn.weight.copy_(s.weight)
            syn.bias.copy_(s.bias)
        out.append(nn.Sequential(*s.pre, syn).eval())
    return out


# ------------------------------------------------------------------ peers
def peer_snntorch(layers):
    import snntorch as snn

    cells = [snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract")
             for _ in layers]

    def run(x):
        mems = [None] * len(cells)
        count = 0
        for _ in range(T):
            h = x
            for i, (f, c) in enumerate(zip(layers, cells)):
                cur = f(h)
                if mems[i] is None:
                    mems[i] = torch.zeros_like(cur)
                h, mems[i] = c(cur, mems[i])
            count = count + h
        return count
    return run


def peer_norse(layers):
    import norse.torch as norse

    cells = [norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(1.0),
                                               v_reset=torch.tensor(0.0))) for _ in layers]

    def run(x):
        states = [None] * len(cells)
        count = 0
        for _ in range(T):
            h = x
            for i, (f, c) in enumerate(zip(layers, cells)):
                h, states[i] = c(f(h), states[i])
            count = count + h
        return count
    return run


def peer_spikingjelly(layers, mode: str):
    from spikingjelly.activation_based import functional, layer, neuron

    nodes = [neuron.IFNode(v_threshold=1.0, v_reset=None, step_mode=mode) for _ in layers]
    if mode == "m":
        seq = [layer.SeqToANNContainer(f) for f in layers]
        model = nn.Sequential(*[m for pair in zip(seq, nodes) for m in pair])
    else:
        model = nn.Sequential(*[m for pair in zip(layers, nodes) for m in pair])

    def run(x):
        functional.reset_net(model)
        if mode == "m":
            return model(x.unsqueeze(0).expand(T, *x.shape)).sum(0)
        return sum(model(x) for _ in range(T))
    return run


PEERS = {
    "snnTorch Leaky": peer_snntorch,
    "Norse IAFCell": peer_norse,
    "SpikingJelly IFNode single-step": lambda ls: peer_spikingjelly(ls, "s"),
    "SpikingJelly IFNode multi-step": lambda ls: peer_spikingjelly(ls, "m"),
}


def load_peers(layers) -> dict:
    runs = {}
    for name, make in PEERS.items():
        try:
            runs[name] = make(layers)
        except ImportError as e:
            print(f"note: skipping {name}: not importable ({e})")
    return runs


# ------------------------------------------------------------------ main
def agreement(label, net, layers, x, runs: dict | None = None) -> list[str]:
    """Output counts of every peer (``runs``: name -> run(x); default: this module's peers
    on ``layers``) vs spikescope's, as Markdown table rows."""
    runs = load_peers(layers) if runs is None else runs
    ref = net.run(x, T, record=()).output_counts[-1].float()
    # Norse's IAF cell resets to zero and fires on V > threshold (strictly); the next float32
    # above 1 as threshold makes spikescope's V >= threshold the same test
    strict = float(torch.nextafter(torch.tensor(1.0), torch.tensor(2.0)))
    zero = SpikingNetwork(net.stages, net.lambdas, NeuronParams(reset="zero", threshold=strict),
                          input_shape=net.input_shape).to(net.device)
    assert all(torch.equal(a.weight, b.weight)
               for a, b in zip(zero.simulated_stages, net.simulated_stages))
    ref_zero = zero.run(x, T, record=()).output_counts[-1].float()
    lines = []
    with torch.no_grad():
        for name, run in runs.items():
            out = run(x).reshape(ref.shape)
            target = ref_zero if name.startswith("Norse") else ref
            same = (out == target).float().mean().item()
            lines.append(f"| {label} | {name} | {100 * same:.2f}% | "
                         f"{(out - target).abs().max().item():.0f} |")
    return lines


def timing(label, net, layers, x, repeats) -> list[dict]:
    fns = {"spikescope run()": lambda: net.run(x, T, record=())}
    fns.update({k: (lambda r=r: r(x)) for k, r in load_peers(layers).items()})
    per_step, all_t = gemm_floors(net, x)
    fns["floor: per-step GEMMs"] = per_step
    fns["floor: one GEMM over T*B rows"] = all_t
    with torch.no_grad():
        med = interleaved(fns, repeats)
    return [{"model": label, "batch": len(x), "impl": k, "ms": v,
             "vs_spikescope": v / med["spikescope run()"],
             "vs_all_t": v / med["floor: one GEMM over T*B rows"]} for k, v in med.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nets = models()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, T={T}, median of {args.repeats}")
    print("\nAgreement of output spike counts with spikescope (batch 64; Norse vs spikescope "
          "with reset to zero and a strict threshold test, as Norse's IAF cell has them):")
    print("| model | peer | equal counts | max abs diff |")
    print("|---|---|---|---|")
    for label, net, x in nets:
        for line in agreement(label, net, torch_layers(net), x[:64]):
            print(line)
    rows = []
    for batch in args.batches:
        for label, net, x in nets:
            rows += timing(label, net, torch_layers(net), x[:batch], args.repeats)
    print("\n| model | batch | implementation | median (ms) | / spikescope | / all-T GEMM |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['impl']} | {r['ms']:.1f} | "
              f"{r['vs_spikescope']:.2f} | {r['vs_all_t']:.2f} |")


if __name__ == "__main__":
    main()
