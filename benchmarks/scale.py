"""spikescope at research scale: a VGG and a ResNet-style graph against the peers.

    python benchmarks/scale.py [--repeats 3] [--threads 2] [--batches 1 16] [--models vgg resnet]

VGG (issue 18): 3x32x32, six 3x3 convolutions 64-128-256-256-256-256, 2x2 average pools
after the 1st, 2nd and 4th, Linear 4096-256-10, ReLU, random weights (seeded), converted with
percentile 99.9. ResNet-style: a stem convolution and three residual blocks (conv-relu-conv
+ shortcut, identity or 1x1 convolution), 2x2 average pools between them, a classifier.
Non-leaky IF, threshold 1, reset by subtraction, analog input, zero-delay, T = 100.

Every peer runs spikescope's simulated weights (``net.simulated_stages``) through the graph
wrappers below (peers.py's wrappers, generalised to stages with several sources and
residual terms). Output: agreement of output counts (batch 4), then per batch medians of
interleaved repeats of spikescope ``run(x, T, record=())``, each peer, and the two product
floors (per step: T products per term; all-T: one product over T*B rows per term; products
only), with each one's peak RSS above the process's before it ran.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import threading
import time

import psutil
import torch
import torch.nn.functional as F
from peers import agreement  # same table rows for the digits nets and these
from torch import nn

import spikescope as ss
from spikescope.sim import graph
from spikescope.sim.network import SpikingNetwork

T = 100


def vgg() -> nn.Module:
    torch.manual_seed(0)

    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*conv(3, 64), nn.AvgPool2d(2), *conv(64, 128), nn.AvgPool2d(2),
                         *conv(128, 256), *conv(256, 256), nn.AvgPool2d(2), *conv(256, 256),
                         *conv(256, 256), nn.Flatten(), nn.Linear(4096, 256), nn.ReLU(),
                         nn.Linear(256, 10)).eval()


class Block(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.short = None if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = F.relu(self.c1(x))
        return F.relu(self.c2(h) + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.b1, self.b2, self.b3 = Block(32, 32), Block(32, 64), Block(64, 128)
        self.fc = nn.Linear(128 * 16, 10)

    def forward(self, x):
        x = self.b1(F.relu(self.stem(x)))
        x = self.b3(F.avg_pool2d(self.b2(F.avg_pool2d(x, 2)), 2))
        return self.fc(torch.flatten(F.avg_pool2d(x, 2), 1))


def resnet() -> nn.Module:
    torch.manual_seed(0)
    return ResNet().eval()


def models(names=("vgg", "resnet"), device="cpu") -> list[tuple[str, SpikingNetwork, torch.Tensor]]:
    x = torch.rand(512, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    make = {"vgg": vgg, "resnet": resnet}
    return [(n, ss.convert(make[n](), x[:64], percentile=99.9).to(device), x.to(device))
            for n in names]


# ------------------------------------------------------------------ graph wrappers
class Scale(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def forward(self, x):
        return x * self.w.view(-1, *([1] * (x.dim() - 2)))


def term_module(term, bias: bool) -> nn.Module:
    """A term's pre ops and synapse as plain torch modules, spikescope's simulated weights."""
    w = term.weight
    if term.kind == "identity":
        syn = Scale(w)
    elif term.kind == "linear":
        syn = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    else:
        syn = nn.Conv2d(w.shape[1] * term.groups, w.shape[0], tuple(w.shape[2:]),
                        stride=term.stride, padding=term.padding, dilation=term.dilation,
                        groups=term.groups, bias=bias)
    if not isinstance(syn, Scale):
        with torch.no_grad():
            syn.weight.copy_(w)
            if bias:
                syn.bias.copy_(term.bias)
    return nn.Sequential(*term.pre, syn).to(w.device).eval()


def graph_layers(net: SpikingNetwork) -> list[list[tuple[tuple[int, ...], nn.Module]]]:
    """Per stage its terms: (sources, module), the first with the bias."""
    return [[(t.sources, term_module(t, t is s)) for t in s.terms()]
            for s in net.simulated_stages]


def _current(terms, outs, dim=1):
    cur = None
    for src, f in terms:
        y = f(graph.gather(outs, src, dim))
        cur = y if cur is None else cur + y
    return cur


def stepper(layers, make_cell, step):
    """A per-step peer: ``make_cell()`` per stage, ``step(cell, current, state)``."""
    cells = [make_cell() for _ in layers]

    def run(x):
        states, count = [None] * len(layers), 0
        for _ in range(T):
            outs = {graph.INPUT: x}
            for l, terms in enumerate(layers):
                outs[l], states[l] = step(cells[l], _current(terms, outs), states[l])
            count = count + outs[len(layers) - 1]
        return count
    return run


def peer_snntorch(layers):
    import snntorch as snn

    def step(cell, cur, mem):
        return cell(cur, torch.zeros_like(cur) if mem is None else mem)
    return stepper(layers, lambda: snn.Leaky(beta=1.0, threshold=1.0,
                                             reset_mechanism="subtract"), step)


def peer_norse(layers):
    import norse.torch as norse

    def make():
        return norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(1.0),
                                                 v_reset=torch.tensor(0.0)))
    return stepper(layers, make, lambda cell, cur, s: cell(cur, s))


def peer_sj_single(layers):
    from spikingjelly.activation_based import neuron

    nodes = [neuron.IFNode(v_threshold=1.0, v_reset=None, step_mode="s") for _ in layers]

    def run(x):
        for n in nodes:
            n.reset()
        count = 0
        for _ in range(T):
            outs = {graph.INPUT: x}
            for l, terms in enumerate(layers):
                outs[l] = nodes[l](_current(terms, outs))
            count = count + outs[len(layers) - 1]
        return count
    return run


def peer_sj_multi(layers):
    """SpikingJelly 2.0.0's IFNode has no backend option (torch only; 0.0.0.0.14's cupy
    backend is gone)."""
    from spikingjelly.activation_based import layer, neuron

    nodes = [neuron.IFNode(v_threshold=1.0, v_reset=None, step_mode="m") for _ in layers]
    seq = [[(src, layer.SeqToANNContainer(f)) for src, f in terms] for terms in layers]

    def run(x):
        for n in nodes:
            n.reset()
        outs = {graph.INPUT: x.unsqueeze(0).expand(T, *x.shape)}
        for l, terms in enumerate(seq):
            outs[l] = nodes[l](_current(terms, outs, dim=2))
        return outs[len(seq) - 1].sum(0)
    return run


def peer_sinabs(layers):
    """sinabs 3.1 IAF (one spike per step at most, subtraction reset), which runs over the
    time axis of (B, T, ...) tensors: each stage's current for all T steps in one product."""
    from sinabs.activation import MembraneSubtract, SingleSpike
    from sinabs.layers import IAF

    nodes = [IAF(spike_threshold=torch.tensor(1.0), spike_fn=SingleSpike,
                 reset_fn=MembraneSubtract(), min_v_mem=None) for _ in layers]

    def fold(f):  # (B, T, ...) -> f over B*T samples -> (B, T, ...)
        return lambda h: f(h.flatten(0, 1)).unflatten(0, h.shape[:2])

    seq = [[(src, fold(f)) for src, f in terms] for terms in layers]

    def run(x):
        for n in nodes:
            n.reset_states()
        outs = {graph.INPUT: x.unsqueeze(1).expand(x.shape[0], T, *x.shape[1:])}
        for l, terms in enumerate(seq):
            outs[l] = nodes[l](_current(terms, outs, dim=2))
        return outs[len(seq) - 1].sum(1)
    return run


PEERS = {"snnTorch Leaky": peer_snntorch, "Norse IAFCell": peer_norse,
         "SpikingJelly IFNode single-step": peer_sj_single,
         "SpikingJelly IFNode multi-step": peer_sj_multi, "sinabs IAF": peer_sinabs}


def load_peers(layers, peers=PEERS) -> dict:
    runs = {}
    for name, make in peers.items():
        try:
            runs[name] = make(layers)
        except (ImportError, ValueError, NotImplementedError) as e:
            print(f"note: skipping {name}: {e}")
    return runs


# ------------------------------------------------------------------ floors, timing
def floors(net: SpikingNetwork, x: torch.Tensor, chunks: int = 1):
    """(per_step, all_t): every term's synaptic product on spike-like inputs of its real
    shape (ANN activation > 0.5), T times, or once over all T*B rows (``chunks`` > 1: over
    T*B/chunks rows, ``chunks`` times: the same operations in less memory)."""
    stages = net.simulated_stages
    with torch.no_grad():
        acts = {l: (a > 0.5).float() for l, a in enumerate(graph.forward(stages, x))}
        acts[graph.INPUT] = x
        ins = []
        for s in stages:
            for t in s.terms():
                z = graph.gather(acts, t.sources)
                for op in t.pre:
                    z = op(z)
                ins.append((t, t is s, z.contiguous()))
        rows = -(-len(x) // chunks)
        big = [(t, b, z[:rows].unsqueeze(0).expand(T, rows, *z.shape[1:])
                .reshape(T * rows, *z.shape[1:]).contiguous()) for t, b, z in ins]

    def per_step():
        with torch.no_grad():
            for _ in range(T):
                for t, b, z in ins:
                    t.synapse(z, bias=b)

    def all_t():
        with torch.no_grad():
            for _ in range(chunks):
                for t, b, z in big:
                    t.synapse(z, bias=b)
    return per_step, all_t


class PeakRSS:
    """Peak resident memory of this process while in the block, above its level at entry."""

    def __enter__(self):
        self.proc, self.base = psutil.Process(), psutil.Process().memory_info().rss
        self.peak, self._stop = self.base, threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.mb = (self.peak - self.base) / 2**20


def interleaved(fns: dict, repeats: int, sync=lambda: None) -> tuple[dict, dict]:
    """Median ms and peak RSS (MiB) of each function, round-robin after one warm-up."""
    times, mem = {k: [] for k in fns}, {k: 0.0 for k in fns}
    for k, f in fns.items():
        with PeakRSS() as p:
            f()
            sync()
        mem[k] = p.mb
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}, mem


def stepped(net: SpikingNetwork, x: torch.Tensor):
    """run() by stepping (``fused_kernels = False``): what run() did before issue 18 on runs
    over 12M neuron-steps (the same stepping code)."""
    net.fused_kernels = False
    try:
        return net.run(x, T, record=())
    finally:
        net.fused_kernels = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--models", nargs="+", default=["vgg", "resnet"])
    ap.add_argument("--peers", nargs="+", default=list(PEERS), help="a subset of: "
                    + ", ".join(f"'{p}'" for p in PEERS))
    ap.add_argument("--no-agreement", action="store_true")
    args = ap.parse_args()
    peers = {k: PEERS[k] for k in args.peers}
    torch.set_num_threads(args.threads)
    nets = models(args.models)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.machine()}, T={T}, median of {args.repeats} interleaved repeats")
    print("\n| model | peer | equal output counts | max abs diff |\n|---|---|---|---|")
    for label, net, x in [] if args.no_agreement else nets:
        layers = graph_layers(net)
        for line in agreement(label, net, layers, x[:4], runs=load_peers(layers)):
            print(line, flush=True)
    print("\n| model | batch | implementation | median (ms) | / spikescope | / all-T floor | "
          "peak RSS (MiB) |\n|---|---|---|---|---|---|---|")
    for batch in args.batches:
        for label, net, x in nets:
            xb = x[:batch]
            fns = {"spikescope run()": lambda n=net, x=xb: n.run(x, T, record=()),
                   "spikescope stepping (before)": lambda n=net, x=xb: stepped(n, x)}
            fns.update({k: (lambda r=r, x=xb: r(x))
                        for k, r in load_peers(graph_layers(net), peers).items()})
            fns["floor: per-step products"], fns["floor: all-T products"] = floors(net, xb)
            with torch.no_grad():
                med, mem = interleaved(fns, args.repeats)
            for k, v in med.items():
                print(f"| {label} | {batch} | {k} | {v:.1f} | {v / med['spikescope run()']:.2f}"
                      f" | {v / med['floor: all-T products']:.2f} | {mem[k]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
