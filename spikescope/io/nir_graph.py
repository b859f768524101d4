"""Stages as NIR nodes and back: the graph part of :mod:`.nir` (chains are the special case).

Export: every synaptic term of a stage becomes a path ``source neurons -> pre ops ->
synaptic node -> the stage's neuron node``. NIR sums the signals of all edges that arrive at
a node (nirtorch, which Norse, snnTorch, sinabs and SpikingJelly read NIR with, adds them;
nirtorch's own exporter writes a torch ``+`` as two edges into the consumer), so a residual
addition is several edges into one neuron node. NIR 1.0 has no concatenation node; a term
reading a concatenation is written exactly without one, as one synaptic node per source
holding that source's slice of the weights (W [a; b] = W_a a + W_b b; pooling and flatten act
per channel, so they are applied to each source before its slice). A per-channel identity
term (a residual shortcut) is written as a 1x1 convolution (an Affine for flat populations)
with the scales on its diagonal: NIR's ``Scale`` would say it too, but no peer (nirtorch,
Norse, snnTorch, sinabs, SpikingJelly) maps ``Scale``. Refused, naming the layer:
ConvTranspose2d (NIR 1.0 defines Conv1d and Conv2d only), nearest upsampling, max-pooling
(spiking max-pooling gates by running counts), 1-D average pooling and ``ceil_mode`` pools
(no NIR fields), a grouped convolution over a concatenation.

Import: every neuron node (IF, LIF, I) is a stage, in topological order; each path of pool,
flatten and synaptic nodes from a neuron node (or the Input) to it is one synaptic term.
Synaptic nodes spikescope wrote as slices of one term (node metadata ``stage``, ``term``,
``part``, ``parts``) are joined back into one term reading a concatenation, and its identity
terms back into per-channel scales, so a file spikescope wrote runs with the same weights,
grids and bits as the network that wrote it; other graphs run as sums of their paths.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConversionError
from ..sim import graph
from ..sim.stages import Stage, pair

MAX_TERMS = 256
"""Most synaptic paths into one neuron node an import follows (a hostile graph of shared
nodes can have exponentially many)."""
MAX_PATH = 64
"""Most pool, flatten and synaptic nodes between two neuron nodes an import follows."""
NEURONS = ("IF", "LIF", "I")
POOL_NODES = ("AvgPool2d", "SumPool2d", "Flatten")
SYNAPSE_NODES = ("Affine", "Linear", "Conv2d", "Conv1d", "Scale")


# ============================================================================ export
def node_name(name: str, taken: set[str]) -> str:
    """``name`` as a NIR node name (letters, digits, ``_``; readers use dots for subgraphs
    and torch module names cannot hold them), made unique in ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "stage"
    key, i = base, 1
    while key in taken or f"{key}_neurons" in taken:
        key, i = f"{base}_{i}", i + 1
    taken.update((key, f"{key}_neurons"))
    return key


def _pre_node(op: nn.Module, shape: tuple[int, ...], where: str) -> Any:
    import nir

    if isinstance(op, nn.AvgPool2d):
        if op.padding and op.count_include_pad is False:
            raise ConversionError(f"{where}: AvgPool2d with count_include_pad=False has no NIR "
                                  f"equivalent")
        if op.ceil_mode:
            raise ConversionError(f"{where}: AvgPool2d with ceil_mode=True has no NIR field")
        return nir.AvgPool2d(kernel_size=np.array(_ints(op.kernel_size)),
                             stride=np.array(_ints(op.stride or op.kernel_size)),
                             padding=np.array(_ints(op.padding)))
    if isinstance(op, nn.Flatten):
        if op.start_dim != 1 or op.end_dim != -1:
            raise ConversionError(f"{where}: Flatten({op.start_dim}, {op.end_dim}) has no NIR "
                                  f"equivalent")
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
    if isinstance(op, (nn.MaxPool1d, nn.MaxPool2d)):
        raise ConversionError(f"{where}: {type(op).__name__} (spiking max-pooling) has no NIR "
                              f"equivalent; use AvgPool2d")
    if isinstance(op, nn.Upsample):
        raise ConversionError(f"{where}: nearest upsampling (a fan-out copy) has no NIR node")
    raise ConversionError(f"{where}: {type(op).__name__} has no NIR node (NIR 1.0 pools with "
                          f"AvgPool2d and SumPool2d only)")


def _ints(v: Any) -> tuple[int, int]:
    """:func:`pair` with int entries (NIR attributes may be numpy arrays of numpy ints)."""
    return pair([int(x) for x in v] if isinstance(v, (tuple, list, np.ndarray)) else int(v))


def _dense(term: Stage, h_dim: int) -> tuple[str, torch.Tensor]:
    """(kind, weight) of ``term`` as a Linear/Conv: an identity term becomes the diagonal
    matrix or 1x1 kernel of its per-channel scales, on an input of ``h_dim`` axes."""
    if term.kind != "identity":
        return term.kind, term.weight
    d = torch.diag(term.weight)
    return {1: ("linear", d), 2: ("conv1d", d[..., None]), 3: ("conv", d[..., None, None])
            }[h_dim]


def _synapse_node(kind: str, w: np.ndarray, b: np.ndarray, term: Stage,
                  h_shape: tuple[int, ...], where: str) -> Any:
    import nir

    if kind == "linear":
        return nir.Affine(weight=w, bias=b)
    if isinstance(term.padding, str) and term.kind != "identity":
        raise ConversionError(f"{where}: padding={term.padding!r}; export needs numbers")
    ident = term.kind == "identity"
    stride, pad, dil = ((1, 1), (0, 0), (1, 1)) if ident else (
        term.stride, term.padding, term.dilation)
    groups = 1 if ident else int(term.groups)
    if kind == "conv1d":
        return nir.Conv1d(input_shape=int(h_shape[1]), weight=w, stride=int(stride[0]),
                          padding=int(pad[0]), dilation=int(dil[0]), groups=groups, bias=b)
    return nir.Conv2d(input_shape=tuple(int(v) for v in h_shape[1:]), weight=w,
                      stride=tuple(stride), padding=tuple(pad), dilation=tuple(dil),
                      groups=groups, bias=b)


def export_nodes(stages: list[Stage], input_shape: tuple[int, ...],
                 neuron_node: Callable[[int, Stage], Any],
                 divisor: Callable[[int], np.float32 | None]) -> tuple[dict, list]:
    """NIR nodes and edges of ``stages`` (see the module docstring): ``neuron_node(l, stage)``
    makes a stage's neuron node, and the weights and bias of stage l are divided by
    ``divisor(l)`` where it is not None (LIF ``r = 1``)."""
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(input_shape))}
    edges: list[tuple[str, str]] = []
    taken = {"input", "output"}
    keys: dict[int, str] = {graph.INPUT: "input"}
    for l, s in enumerate(stages):
        key = node_name(s.name, taken)
        d = divisor(l)
        for j, term in enumerate(s.terms()):
            tkey = key if j == 0 else f"{key}_branch{j}"
            where = f"layer {s.name}" + (f" (branch {term.name})" if j else "")
            if term.kind == "convT":
                raise ConversionError(f"{where}: ConvTranspose2d has no NIR node (NIR 1.0 "
                                      f"defines Affine, Linear, Conv1d and Conv2d)")
            channels = graph.source_channels(stages, term)
            spatial = tuple(term.in_shape[1:])
            offset = 0
            for i, (src, c) in enumerate(zip(term.sources, channels)):
                pkey = tkey if len(channels) == 1 else f"{tkey}_part{i}"
                prev, shape = keys[src], (c, *spatial)
                for k, op in enumerate(term.pre):
                    if isinstance(op, nn.Flatten) and len(shape) == 1:
                        continue  # a no-op, which Norse and sinabs would misread
                    nodes[f"{pkey}_pre{k}"] = _pre_node(op, shape, where)
                    edges.append((prev, f"{pkey}_pre{k}"))
                    prev = f"{pkey}_pre{k}"
                    shape = tuple(op(torch.zeros((1, *shape))).shape[1:])
                kind, w = _dense(term, len(shape))
                width = math.prod(shape) if kind == "linear" else shape[0]
                if len(channels) > 1 and kind != "linear" and not (
                        term.kind == "identity" or term.groups == 1):
                    raise ConversionError(f"{where}: a grouped convolution over a "
                                          f"concatenation has no NIR equivalent")
                w = w[:, offset:offset + width] if len(channels) > 1 else w
                offset += width
                b = term.bias if (j == 0 and i == 0) else torch.zeros_like(s.bias)
                w = w.detach().cpu().numpy().astype(np.float32)
                b = b.detach().cpu().numpy().astype(np.float32)
                if d is not None:
                    w, b = w / d, b / d
                node = _synapse_node(kind, w, b, term, shape, where)
                node.metadata = {"stage": s.name, "term": j, "part": i,
                                 "parts": len(channels), "kind": term.kind}
                nodes[pkey] = node
                edges += [(prev, pkey), (pkey, f"{key}_neurons")]
        nodes[f"{key}_neurons"] = neuron_node(l, s)
        nodes[f"{key}_neurons"].metadata["layer"] = l
        keys[l] = f"{key}_neurons"
    nodes["output"] = nir.Output(output_type=np.array(stages[-1].out_shape))
    edges.append((keys[len(stages) - 1], "output"))
    return nodes, edges


# ============================================================================ import
def _topological(g: Any) -> list[str]:
    """Node names in topological order; ConversionError naming a node on a cycle. Ties go to
    the layer index spikescope writes in neuron nodes' metadata (``nir.read`` returns the
    nodes sorted by name), then to the graph's node order."""
    def layer(node: Any) -> float:
        v = (getattr(node, "metadata", None) or {}).get("layer")
        ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
        return float(v) if ok else math.inf

    order = {k: (layer(n), i) for i, (k, n) in enumerate(g.nodes.items())}
    indeg = dict.fromkeys(g.nodes, 0)
    succ: dict[str, list[str]] = {k: [] for k in g.nodes}
    for a, b in g.edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = [(order[k], k) for k, n in indeg.items() if n == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, k = heapq.heappop(ready)
        out.append(k)
        for b in succ[k]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(ready, (order[b], b))
    if len(out) < len(g.nodes):
        left = next(k for k in g.nodes if indeg[k] > 0)
        raise ConversionError(f"NIR graph has a cycle at {left!r} (recurrence is not "
                              f"supported)")
    return out


def _kind(node: Any) -> str:
    return type(node).__name__


def populations(g: Any) -> tuple[str, list[str], dict[str, list[str]]]:
    """(the Input's name, the neuron nodes in topological order ending with the one the
    Output reads, predecessors of every node in edge order) after checking the structure:
    one Input, one Output fed by one neuron node, every node on a path from the Input to
    the Output, only supported node kinds."""
    supported = ("Input", "Output", *NEURONS, *POOL_NODES, *SYNAPSE_NODES)
    for key, node in g.nodes.items():
        if _kind(node) not in supported:
            raise ConversionError(f"NIR node {key!r} of type {_kind(node)} is not supported; "
                                  f"spikescope imports Affine, Linear, Conv1d, Conv2d, Scale, "
                                  f"AvgPool2d, SumPool2d, Flatten, IF, LIF and I")
    inputs = [k for k, n in g.nodes.items() if _kind(n) == "Input"]
    outputs = [k for k, n in g.nodes.items() if _kind(n) == "Output"]
    if len(inputs) != 1:
        raise ConversionError(f"NIR graph must have exactly one Input node, has {len(inputs)}")
    if len(outputs) != 1:
        raise ConversionError(f"NIR graph must have exactly one Output node, has "
                              f"{len(outputs)}")
    preds: dict[str, list[str]] = {k: [] for k in g.nodes}
    succs: dict[str, list[str]] = {k: [] for k in g.nodes}
    for a, b in g.edges:
        preds[b].append(a)
        succs[a].append(b)
    order = _topological(g)
    out = outputs[0]
    if len(preds[out]) != 1 or _kind(g.nodes[preds[out][0]]) not in NEURONS:
        raise ConversionError(f"NIR Output {out!r} must be fed by exactly one neuron node "
                              f"(IF, LIF or I), is fed by {preds[out]!r:.120}")
    if succs[out]:
        raise ConversionError(f"NIR Output {out!r} has successors {succs[out]!r:.80}")
    useful, stack = {out}, [out]
    while stack:
        for p in preds[stack.pop()]:
            if p not in useful:
                useful.add(p)
                stack.append(p)
    for k in order:
        if k not in useful:
            raise ConversionError(f"NIR node {k!r} does not lead to the Output (only "
                                  f"feed-forward graphs from one Input to one Output are "
                                  f"supported)")
        if k != inputs[0] and not preds[k]:
            raise ConversionError(f"NIR node {k!r} has no input")
    pops = [k for k in order if _kind(g.nodes[k]) in NEURONS]
    for k in pops[:-1]:
        if _kind(g.nodes[k]) == "I":
            raise ConversionError(f"NIR node {k!r}: an integrator I is only supported as the "
                                  f"output layer")
    return inputs[0], pops, preds


def paths_into(g: Any, preds: dict[str, list[str]], pop: str, sources: set[str]
               ) -> list[tuple[str, list[str]]]:
    """Every path into neuron node ``pop``: (source population, the nodes between, in order).
    Iterative (a hostile graph may chain thousands of nodes); at most :data:`MAX_TERMS`
    paths of at most :data:`MAX_PATH` nodes."""
    between: list[str] = []  # the nodes between pop and its source populations
    seen, stack = set(), [k for k in preds[pop] if k not in sources]
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            between.append(k)
            stack.extend(p for p in preds[k] if p not in sources and p not in seen)
    succ: dict[str, list[str]] = {k: [] for k in between}
    for n in between:
        for p in preds[n]:
            if p in seen:
                succ[p].append(n)  # once per edge, as indeg counts
    indeg = {k: sum(p in seen for p in preds[k]) for k in between}
    ready = [k for k in between if indeg[k] == 0]
    found: dict[str, list[tuple[str, list[str]]]] = {s: [(s, [])] for s in sources}
    while ready:  # sources first: a node's paths are its predecessors' paths, extended
        k = ready.pop()
        paths = [(src, [*ks, k]) for p in preds[k] for src, ks in found[p]]
        if len(paths) > MAX_TERMS or any(len(ks) > MAX_PATH for _, ks in paths):
            raise ConversionError(f"NIR node {pop!r}: more than {MAX_TERMS} synaptic paths "
                                  f"or a path of more than {MAX_PATH} nodes lead into it")
        found[k] = paths
        for n in succ[k]:
            indeg[n] -= 1
            if indeg[n] == 0:
                ready.append(n)
    out = [p for k in preds[pop] for p in found[k]]
    if len(out) > MAX_TERMS:
        raise ConversionError(f"NIR node {pop!r}: more than {MAX_TERMS} synaptic paths lead "
                              f"into it")
    return out


def _arr(v: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v, np.float32))


def path_term(g: Any, pop: str, path: list[str]) -> tuple[Stage, dict | None, float]:
    """One synaptic term from a path of pool/flatten nodes, at most one synaptic node
    (none: the identity), and nothing but pools before it; the synaptic node's metadata
    (None if absent); and the gain of its SumPool2d nodes (kernel areas), for the weights."""
    pre: list[nn.Module] = []
    gain = 1.0
    syn_at = [i for i, k in enumerate(path) if _kind(g.nodes[k]) in SYNAPSE_NODES]
    if len(syn_at) > 1:
        raise ConversionError(f"NIR node {path[syn_at[1]]!r}: two synaptic layers without "
                              f"neurons between them are not supported")
    if syn_at and syn_at[0] != len(path) - 1:
        raise ConversionError(f"NIR node {path[syn_at[0] + 1]!r} "
                              f"({_kind(g.nodes[path[syn_at[0] + 1]])}) between the synaptic "
                              f"layer {path[syn_at[0]]!r} and the neurons {pop!r} is not "
                              f"supported (pool and flatten before a synaptic layer)")
    for k in path[:len(path) - len(syn_at)]:
        node = g.nodes[k]
        if _kind(node) == "Flatten":
            pre.append(nn.Flatten())
            continue
        kern = _ints(node.kernel_size)
        pre.append(nn.AvgPool2d(kern, _ints(node.stride), _ints(node.padding)))
        if _kind(node) == "SumPool2d":
            gain *= kern[0] * kern[1]
    name = path[-1] if syn_at else f"{pop}_identity"
    if not syn_at:
        c = pop_shape(g.nodes[pop], pop)[0]
        return Stage(name, "identity", torch.ones(c), torch.zeros(c), pre=pre), None, gain
    node = g.nodes[path[-1]]
    kind = _kind(node)
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    if kind == "Scale":
        s = _arr(node.scale)
        flat = s.reshape(s.shape[0], -1) if s.dim() else s.reshape(1, 1)
        if not bool((flat == flat[:, :1]).all()):
            raise ConversionError(f"NIR node {path[-1]!r} (Scale): spikescope scales per "
                                  f"channel (the same scale over each channel's positions)")
        w = flat[:, 0]
        return Stage(name, "identity", w, torch.zeros_like(w), pre=pre), meta, gain
    w = _arr(node.weight)
    b = _arr(getattr(node, "bias", None)).reshape(-1) if getattr(node, "bias", None) is not None \
        else torch.zeros(w.shape[0])
    if kind in ("Affine", "Linear"):
        term = Stage(name, "linear", w, b, pre=pre)
    elif kind == "Conv1d":
        pad = node.padding if isinstance(node.padding, str) else (int(np.asarray(
            node.padding).ravel()[0]), 0)
        term = Stage(name, "conv1d", w, b, pre=pre, stride=(_first(node.stride), 1),
                     padding=pad, dilation=(_first(node.dilation), 1), groups=int(node.groups))
    else:
        pad = node.padding if isinstance(node.padding, str) else _ints(node.padding)
        term = Stage(name, "conv", w, b, pre=pre, stride=_ints(node.stride), padding=pad,
                     dilation=_ints(node.dilation), groups=int(node.groups))
    return term, meta, gain


def pop_shape(node: Any, key: str) -> tuple[int, ...]:
    """The shape of a neuron node's population (from its parameter arrays)."""
    shape = np.shape(node.r) if _kind(node) == "I" else np.shape(node.v_threshold)
    if not shape:
        raise ConversionError(f"NIR node {key!r} ({_kind(node)}): scalar parameters; "
                              f"spikescope needs one entry per neuron to know its shape")
    return tuple(int(d) for d in shape)


def _first(v: Any) -> int:
    return int(np.asarray(v).ravel()[0])


def join_parts(terms: list[tuple[Stage, dict | None, int]]) -> list[Stage]:
    """Terms with their sources set; the slices spikescope wrote of one term (same stage,
    term index, every part once, same ops) joined back into one term reading the
    concatenation of their sources, and identity terms written as diagonal maps back into
    per-channel scales. Anything else stays a term of its own (the same sum)."""
    groups: dict[tuple, list[tuple[Stage, dict, int]]] = {}
    for t, meta, src in terms:
        t.sources = (src,)
        if meta and _meta_ok(meta):
            groups.setdefault((meta["stage"], int(meta["term"])), []).append((t, meta, src))
    out: list[Stage] = []
    done: set[int] = set()
    for t, meta, _ in terms:
        if id(t) in done:
            continue
        key = (meta["stage"], int(meta["term"])) if meta and _meta_ok(meta) else None
        parts = sorted(groups.get(key, []), key=lambda p: int(p[1]["part"]))
        if key is not None and _joinable(parts):
            t = parts[0][0].copy(weight=torch.cat([p[0].weight for p in parts], 1),
                                 bias=sum((p[0].bias for p in parts[1:]), parts[0][0].bias),
                                 sources=tuple(p[2] for p in parts))
            done.update(id(p[0]) for p in parts)
            t = _identity(t) if meta.get("kind") == "identity" else t
        else:
            done.add(id(t))
            t = _identity(t) if meta and meta.get("kind") == "identity" else t
        out.append(t)
    return out


def _meta_ok(meta: dict) -> bool:
    return (isinstance(meta.get("stage"), str) and all(
        isinstance(meta.get(f), (int, np.integer)) and not isinstance(meta.get(f), bool)
        and int(meta[f]) >= 0 for f in ("term", "part", "parts")))


def _joinable(parts: list[tuple[Stage, dict, int]]) -> bool:
    n = int(parts[0][1]["parts"])
    if n < 2 or [int(p[1]["part"]) for p in parts] != list(range(n)):
        return False
    first = parts[0][0]
    return all(p[0].kind == first.kind and first.kind != "identity"
               and repr(p[0].pre) == repr(first.pre) and p[0].stride == first.stride
               and p[0].padding == first.padding and p[0].dilation == first.dilation
               and p[0].groups == 1 == first.groups and p[0].weight.dim() == first.weight.dim()
               and p[0].weight.shape[0] == first.weight.shape[0] for p in parts)


def _identity(t: Stage) -> Stage:
    """A square 1x1/diagonal map with stride 1 and no padding as per-channel scales."""
    w = t.weight
    if t.kind == "conv":
        ok = w.shape[2:] == (1, 1) and t.stride == (1, 1) and t.padding == (0, 0)
        w = w[..., 0, 0] if ok else w
    elif t.kind == "conv1d":
        ok = w.shape[2:] == (1,) and t.stride[0] == 1 and t.padding in ((0, 0), 0)
        w = w[..., 0] if ok else w
    else:
        ok = t.kind == "linear" and not any(isinstance(op, nn.Flatten) for op in t.pre)
    square = ok and w.dim() == 2 and w.shape[0] == w.shape[1] and t.groups == 1
    if not square or not torch.equal(w, torch.diag(torch.diagonal(w))) or bool(
            (t.bias != 0).any()):
        return t
    return t.copy(kind="identity", weight=torch.diagonal(w).clone(), stride=(1, 1),
                  padding=(0, 0), dilation=(1, 1), groups=1)
