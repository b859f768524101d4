"""Exchange spiking networks as NIR graphs (https://neuroir.org).

NIR is the interchange format read by snnTorch, Norse, Sinabs, Lava, Rockpool and the
SpiNNaker2 tools. HDF5 files hold arrays and strings only, no code.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..codes import CODES
from ..convert.parse import ConversionError, infer_shapes
from ..neurons import NEURONS, NeuronParams
from ..sim.network import SpikingNetwork
from ..sim.stages import Stage, pair
from .errors import ModelLoadError
from .nir_checks import check_graph
from .nir_conventions import (
    NIRSemanticsWarning,
    check_if_r,
    export_notes,
    export_threshold,
    if_gain,
    import_threshold,
    lif_leak_gain,
    resolve_dt,
)
from .safety import DEFAULT_MAX_BYTES


def _neuron_node(net: SpikingNetwork, stage: Stage, last: bool, reset: str, if_r: str,
                 lif_r: str) -> Any:
    import nir

    shape = tuple(stage.out_shape)
    p = net.params
    dt = net.dt_ms * 1e-3
    meta = {"reset": reset, "leak": float(p.leak), "threshold": float(p.threshold)}
    if last and net.readout == "membrane":
        return nir.I(r=np.ones(shape), metadata=meta)
    thr = export_threshold(p.threshold, shape)  # NIR fires at v > t, spikescope at v >= t
    zeros = np.zeros(shape)
    if p.leak == 1.0:  # NIR: dv/dt = R I, per-step gain R dt = 1
        r = np.full(shape, 1.0 / dt if if_r == "nir" else 1.0)
        return nir.IF(r=r, v_threshold=thr, v_reset=zeros, metadata=meta)
    # forward Euler of tau dv/dt = -v + R I over one step: leak = 1 - dt/tau, R = tau/dt
    tau = dt / (1.0 - p.leak)
    r = tau / dt if lif_r == "tau/dt" else 1.0  # "unit": the gain tau/dt is in the weights
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, r), v_leak=zeros,
                   v_threshold=thr, v_reset=zeros, metadata=meta)


def to_nir(net: SpikingNetwork, *, reset: str | None = None, if_r: str = "nir",
           lif_r: str = "tau/dt") -> Any:
    """Export a SpikingNetwork as a ``nir.NIRGraph``.

    Chain: Input -> per layer [AvgPool2d / Flatten] -> Affine or Conv2d -> IF (leak = 1; R =
    1 / dt, NIR's dv/dt = R I) or LIF (leak < 1; tau = dt / (1 - leak), R = tau / dt, forward
    Euler) -> Output. Weights are the normalized ones, so the graph runs as the converted SNN.
    v_threshold is the float32 number just below the threshold (NIR fires at v > t, spikescope
    at v >= t). NIR neurons reset to ``v_reset``; spikescope's reset by subtraction, refractory
    period, graded spikes, lambdas and dt are kept in node/graph ``metadata`` (read back by
    :func:`from_nir`) and a :class:`NIRSemanticsWarning` says so. ``reset="zero"`` writes the
    network with reset to zero (a different network when it resets by subtraction: for a
    hand-off to tools and chips that follow NIR). ``if_r="unit"`` writes IF r = 1 as snnTorch,
    Norse and sinabs expect (see :mod:`spikescope.io.nir_conventions`); ``lif_r="unit"``
    writes LIF r = 1 with the weights scaled by tau/dt (the same NIR network, for readers that
    ignore r, such as Norse). A membrane readout
    exports the output layer as an integrator ``I``. Spiking max-pooling has no NIR equivalent.
    """
    import nir

    check_if_r(if_r)
    if lif_r not in ("tau/dt", "unit"):
        raise ValueError(f"lif_r must be 'tau/dt' or 'unit', got {lif_r!r}")
    if reset not in (None, "subtract", "zero"):
        raise ValueError(f"reset must be None (the network's), 'subtract' or 'zero', got "
                         f"{reset!r}")
    reset = reset or net.params.reset
    notes = export_notes(reset, net.params.refractory, net.params.graded, if_r)
    if notes:
        import warnings

        warnings.warn("NIR export: " + "; ".join(notes), NIRSemanticsWarning, stacklevel=2)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(net.input_shape))}
    order = ["input"]
    for li, s in enumerate(net.stages):
        shape = tuple(s.in_shape)
        for j, op in enumerate(s.pre):
            key = f"{s.name}_pre{j}"
            if isinstance(op, nn.AvgPool2d):
                nodes[key] = nir.AvgPool2d(kernel_size=np.array(_int_pair(op.kernel_size)),
                                           stride=np.array(_int_pair(op.stride)),
                                           padding=np.array(_int_pair(op.padding)))
                if op.padding and op.count_include_pad is False:
                    raise ConversionError(f"{s.name}: AvgPool2d with count_include_pad=False "
                                          f"has no NIR equivalent")
            elif isinstance(op, nn.Flatten):
                if op.start_dim != 1 or op.end_dim != -1:
                    raise ConversionError(f"{s.name}: Flatten({op.start_dim}, {op.end_dim}) "
                                          f"has no NIR equivalent")
                nodes[key] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                         end_dim=-1)
            else:
                raise ConversionError(f"{s.name}: {type(op).__name__} (spiking max-pooling) "
                                      f"has no NIR equivalent; use AvgPool2d")
            shape = tuple(op(torch.zeros((1, *shape))).shape[1:])
            order.append(key)
        w = s.weight.detach().cpu().numpy().astype(np.float32)
        b = s.bias.detach().cpu().numpy().astype(np.float32)
        if lif_r == "unit" and net.params.leak != 1.0 and not (
                li == len(net.stages) - 1 and net.readout == "membrane"):
            w, b = w / np.float32(1.0 - net.params.leak), b / np.float32(1.0 - net.params.leak)
        if s.kind == "linear":
            nodes[s.name] = nir.Affine(weight=w, bias=b)
        else:
            if isinstance(s.padding, str):
                raise ConversionError(f"{s.name}: padding={s.padding!r}; export needs numbers")
            nodes[s.name] = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w,
                                       stride=tuple(s.stride), padding=tuple(s.padding),
                                       dilation=tuple(s.dilation), groups=int(s.groups), bias=b)
        order.append(s.name)
        key = f"{s.name}_neurons"
        nodes[key] = _neuron_node(net, s, li == len(net.stages) - 1, reset, if_r, lif_r)
        order.append(key)
    nodes["output"] = nir.Output(output_type=np.array(net.stages[-1].out_shape))
    order.append("output")
    meta = {"producer": "spikescope", "dt_ms": float(net.dt_ms), "readout": net.readout,
            "code": net.code, "neuron": net.neuron.name, "reset": reset, "if_r": if_r,
            "lif_r": lif_r,
            "clamp_delay": int(net.clamp_delay),
            "lambdas": np.array(net.lambdas, np.float64), "bits": int(net.bits),
            "percentile": float("nan") if net.percentile is None else float(net.percentile),
            "refractory": int(net.params.refractory), "graded": int(net.params.graded)}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata=meta)


def _int_pair(v: Any) -> tuple[int, int]:
    """:func:`pair` with every entry an int (NIR attributes may be numpy arrays of numpy ints)."""
    return pair([int(x) for x in v] if isinstance(v, (tuple, list, np.ndarray)) else v)


def _meta_str(v: Any, default: str) -> str:
    if v is None:
        return default
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(v)


def _uniform(a: Any, what: str) -> float:
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 0 or not np.all(arr == arr.flat[0]):
        raise ConversionError(f"{what} differs between neurons; spikescope supports one value "
                              f"per network")
    return float(arr.flat[0])


def from_nir(graph: Any, *, dt_ms: float | None = None, if_r: str | None = None
             ) -> SpikingNetwork:
    """Build a SpikingNetwork from a NIR graph of the supported subset.

    Supported: a chain Input -> ([AvgPool2d | SumPool2d | Flatten]* -> Affine | Linear | Conv2d
    -> IF | LIF) * -> Output, optionally ending in an integrator ``I`` (membrane readout);
    the same threshold and leak in every spiking layer and v_reset = 0. The time step is
    ``dt_ms``, else the graph's metadata, else the one implied by unit-gain neurons (warns),
    else 1 ms. The per-step input gain of the neurons (R dt for IF as NIR defines it, or R
    with ``if_r="unit"`` for snnTorch/Norse/sinabs files; R dt/tau for LIF, which needs
    dt < tau) is folded into the weights; NIR's v > v_threshold becomes v >= the next float32
    up (see :mod:`spikescope.io.nir_conventions`); SumPool2d becomes
    AvgPool2d with the kernel area folded into the next weights. Raises ConversionError naming
    the first node outside this subset.
    """
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise ConversionError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    check_graph(graph, dt_ms)  # structure, values and metadata, naming node and field
    meta = dict(graph.metadata or {})
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ConversionError(f"NIR graph must have exactly one Input node, has {len(inputs)}")
    dt_ms, dt_known = resolve_dt(graph, dt_ms, meta)
    dt = dt_ms * 1e-3
    legacy = _meta_str(meta.get("producer"), "") == "spikescope"  # before if_r: IF r = 1
    if_r = check_if_r(if_r or _meta_str(meta.get("if_r"), "unit" if legacy else "nir"))
    input_shape = tuple(int(d) for d in np.asarray(graph.nodes[inputs[0]].input_type["input"]))
    stages: list[Stage] = []
    pending: list[nn.Module] = []
    pending_gain = 1.0
    synapse: tuple[str, Any] | None = None
    thresholds, leaks, resets = [], [], []
    readout = "spikes"
    key, seen = inputs[0], set()
    while True:
        nxt = succ.get(key, [])
        if len(nxt) != 1:
            if not nxt and isinstance(graph.nodes[key], nir.Output):
                break
            raise ConversionError(f"NIR node {key!r} has {len(nxt)} successors; only chains "
                                  f"are supported")
        key = nxt[0]
        if key in seen:
            raise ConversionError(f"NIR graph has a cycle at {key!r} (recurrence is not "
                                  f"supported)")
        seen.add(key)
        node = graph.nodes[key]
        kind = type(node).__name__
        if isinstance(node, nir.Output):
            break
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            k = _int_pair(node.kernel_size)
            pending.append(nn.AvgPool2d(k, _int_pair(node.stride), _int_pair(node.padding)))
            if isinstance(node, nir.SumPool2d):
                pending_gain *= k[0] * k[1]
        elif isinstance(node, nir.Flatten):
            pending.append(nn.Flatten())
        elif isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            if synapse is not None:
                raise ConversionError(f"NIR node {key!r}: two synaptic layers without neurons "
                                      f"between them are not supported")
            synapse = (key, node)
        elif isinstance(node, (nir.IF, nir.LIF, nir.I)):
            if synapse is None:
                raise ConversionError(f"NIR node {key!r} ({kind}) has no synaptic layer before it")
            sname, syn = synapse
            w = torch.as_tensor(np.asarray(syn.weight, np.float32))
            b = torch.as_tensor(np.asarray(getattr(syn, "bias", np.zeros(w.shape[0])),
                                           np.float32)).reshape(-1)
            if isinstance(node, nir.LIF):
                leak, gain = lif_leak_gain(key, _uniform(node.tau, f"{key}: tau"),
                                           _uniform(node.r, f"{key}: r"), dt)
                exact = (node.metadata or {}).get("leak")  # spikescope's own, bit-exact
                if exact is not None and abs(float(np.asarray(exact)) - leak) < 1e-9:
                    leak = float(np.asarray(exact))
                    gain = round(gain, 9)
                leaks.append(leak)
                if _uniform(node.v_leak, f"{key}: v_leak") != 0:
                    raise ConversionError(f"NIR node {key!r}: v_leak must be 0")
            elif isinstance(node, nir.IF):
                gain = if_gain(key, _uniform(node.r, f"{key}: r"), dt, if_r, dt_known)
                exact = (node.metadata or {}).get("threshold") is not None
                gain = round(gain, 9) if exact else gain  # spikescope's own: 1/dt * dt
                leaks.append(1.0)
            else:
                gain = _uniform(node.r, f"{key}: r")
            if isinstance(node, nir.I):
                if nxt_is_output(graph, succ, key):
                    readout = "membrane"
                else:
                    raise ConversionError(f"NIR node {key!r}: an integrator I is only "
                                          f"supported as the output layer")
            else:
                vt = _uniform(node.v_threshold, f"{key}: v_threshold")
                exact = (node.metadata or {}).get("threshold")  # spikescope's own
                thresholds.append(float(np.asarray(exact)) if exact is not None
                                  else import_threshold(vt))
                if _uniform(node.v_reset, f"{key}: v_reset") != 0:
                    raise ConversionError(f"NIR node {key!r}: v_reset must be 0")
                resets.append(_meta_str((node.metadata or {}).get("reset"), "zero"))
            w = w * (gain * pending_gain)
            b = b * gain
            n = len(stages) + 1
            if isinstance(syn, nir.Conv2d):
                pad = syn.padding if isinstance(syn.padding, str) else _int_pair(syn.padding)
                stages.append(Stage(f"conv{n}", "conv", w, b, pre=pending, stride=_int_pair(
                    syn.stride), padding=pad, dilation=_int_pair(syn.dilation),
                    groups=int(syn.groups)))
            else:
                stages.append(Stage(f"fc{n}", "linear", w, b, pre=pending))
            pending, pending_gain, synapse = [], 1.0, None
        else:
            raise ConversionError(f"NIR node {key!r} of type {kind} is not supported; "
                                  f"spikescope imports Affine, Linear, Conv2d, AvgPool2d, "
                                  f"SumPool2d, Flatten, IF, LIF and I")
    if not stages:
        raise ConversionError("NIR graph has no synaptic layer followed by neurons")
    if synapse is not None or pending:
        raise ConversionError("NIR graph ends without neurons after its last layer")
    threshold = _uniform(thresholds, "v_threshold") if thresholds else 1.0
    leak = _uniform(leaks, "leak (tau)") if leaks else 1.0
    reset = _uniform_str(resets, meta)
    for i, s in enumerate(stages):
        s.relu = i < len(stages) - 1
    try:
        infer_shapes(stages, input_shape)
    except ConversionError as e:
        raise ConversionError(f"NIR graph shapes do not fit: {e}") from e
    params = NeuronParams(threshold=threshold, leak=leak, reset=reset,
                          refractory=int(np.asarray(meta.get("refractory", 0))),
                          graded=bool(np.asarray(meta.get("graded", 0))))
    lambdas = [float(v) for v in np.asarray(meta.get("lambdas", [1.0] * len(stages))).ravel()]
    if len(lambdas) != len(stages):
        lambdas = [1.0] * len(stages)
    pct = meta.get("percentile")
    pct = None if pct is None or math.isnan(float(np.asarray(pct))) else float(np.asarray(pct))
    code = _meta_str(meta.get("code"), "rate")
    neuron = _meta_str(meta.get("neuron"), "if" if params.leak == 1 else "lif")
    for registry, name, what in ((CODES, code, "code"), (NEURONS, neuron, "neuron")):
        if name not in registry:  # a code or model registered in the process that wrote it
            raise ModelLoadError(f"NIR metadata names {what} {name!r}, which is not "
                                 f"registered here ({registry.unknown(name)}); register it "
                                 f"before loading the file")
    return SpikingNetwork(stages, lambdas, params, input_shape=input_shape, code=code,
                          neuron=neuron, percentile=pct,
                          bits=int(np.asarray(meta.get("bits", 8))),
                          clamp_delay=int(np.asarray(meta.get("clamp_delay", 0))),
                          readout=readout, dt_ms=dt_ms)


def nxt_is_output(graph: Any, succ: dict[str, list[str]], key: str) -> bool:
    import nir

    nxt = succ.get(key, [])
    return len(nxt) == 1 and isinstance(graph.nodes[nxt[0]], nir.Output)


def _uniform_str(resets: list[str], meta: dict) -> str:
    if not resets:
        return _meta_str(meta.get("reset"), "subtract")
    if len(set(resets)) != 1:
        raise ConversionError(f"layers use different reset mechanisms {sorted(set(resets))}")
    if resets[0] not in ("subtract", "zero"):
        raise ConversionError(f"unknown reset {resets[0]!r} in NIR metadata")
    return resets[0]


def save_nir(net: SpikingNetwork, path: str | os.PathLike, **options: Any) -> None:
    """Write ``net`` as a NIR file (HDF5) with :func:`nir.write` (options: :func:`to_nir`'s)."""
    import nir

    nir.write(str(path), to_nir(net, **options))


def load_nir(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SpikingNetwork:
    """Read a NIR file (HDF5) with :func:`nir.read` and build a SpikingNetwork (:func:`from_nir`).

    HDF5 holds arrays and strings only, no code. Raises ModelLoadError for a corrupt file.
    """
    import nir

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise ModelLoadError(f"{path}: exceeds the size limit of {max_bytes} bytes")
    try:
        graph = nir.read(str(path))
    except Exception as e:  # noqa: BLE001 - h5py OSError, KeyError, AssertionError, ...
        raise ModelLoadError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from e
    return from_nir(graph)
