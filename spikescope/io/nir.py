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

from ..codes import CODES
from ..convert.parse import ConversionError, infer_shapes
from ..neurons import NEURONS, NeuronParams
from ..sim.graph import INPUT
from ..sim.network import SpikingNetwork
from ..sim.stages import Stage
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
from .nir_graph import export_nodes, join_parts, path_term, paths_into, populations
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
           lif_r: str = "tau/dt", weights: str = "simulated") -> Any:
    """Export a SpikingNetwork as a ``nir.NIRGraph``.

    Per layer: each synaptic term as [AvgPool2d / Flatten] -> Affine, Conv2d or Conv1d, all
    its terms' edges into one IF (leak = 1; R = 1 / dt, NIR's dv/dt = R I) or LIF (leak < 1;
    tau = dt / (1 - leak), R = tau / dt, forward Euler) node, which NIR sums: residual
    additions and concatenations (as weight slices per source) need no other node; identity
    shortcuts are diagonal 1x1 Conv2d / Affine nodes (see :mod:`.nir_graph`, which also lists
    what is refused: ConvTranspose2d, upsampling, max-pooling). Input and Output end the
    graph. ``weights="simulated"`` writes the weights spikescope simulates (the normalized
    ones, on their exact-sum grid, :mod:`spikescope.sim.exact`): any reader's sums of spikes
    are then exact too, whatever its summation order, so a NIR-faithful peer gives the same
    spikes (SpikingJelly on digits-resnet: every step; with ``"normalized"``, the ANN's
    weights off the grid, 99.9% of the steps of 64 samples x 30 steps).
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
    if weights not in ("simulated", "normalized"):
        raise ValueError(f"weights must be 'simulated' or 'normalized', got {weights!r}")
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
    last = len(net.stages) - 1
    unit_lif = lif_r == "unit" and net.params.leak != 1.0

    def divisor(l: int) -> np.float32 | None:
        membrane = l == last and net.readout == "membrane"
        return np.float32(1.0 - net.params.leak) if unit_lif and not membrane else None

    nodes, edges = export_nodes(
        net.simulated_stages if weights == "simulated" else net.stages, net.input_shape,
        lambda l, s: _neuron_node(net, s, l == last, reset, if_r, lif_r), divisor)
    meta = {"producer": "spikescope", "dt_ms": float(net.dt_ms), "readout": net.readout,
            "code": net.code, "neuron": net.neuron.name, "reset": reset, "if_r": if_r,
            "lif_r": lif_r,
            "clamp_delay": int(net.clamp_delay),
            "lambdas": np.array(net.lambdas, np.float64), "bits": int(net.bits),
            "percentile": float("nan") if net.percentile is None else float(net.percentile),
            "refractory": int(net.params.refractory), "graded": int(net.params.graded)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


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

    Supported: a feed-forward graph from one Input to one Output in which every neuron node
    (IF, LIF; an integrator ``I`` as the output layer: membrane readout) is a layer, and every
    path into it from the Input or another neuron node ([AvgPool2d | SumPool2d | Flatten]*
    then Affine | Linear | Conv2d | Conv1d | Scale, or pools alone: an identity) is one
    synaptic term; several edges into one node are summed, as NIR defines (residual
    additions, and concatenations written as weight slices, :mod:`.nir_graph`). The same
    threshold and leak in every spiking layer and v_reset = 0. The time step is
    ``dt_ms``, else the graph's metadata, else the one implied by unit-gain neurons (warns),
    else 1 ms. The per-step input gain of the neurons (R dt for IF as NIR defines it, or R
    with ``if_r="unit"`` for snnTorch/Norse/sinabs files; R dt/tau for LIF, which needs
    dt < tau) is folded into the weights; NIR's v > v_threshold becomes v >= the next float32
    up (see :mod:`spikescope.io.nir_conventions`); SumPool2d becomes
    AvgPool2d with the kernel area folded into the next weights. Raises ConversionError naming
    the first node outside this subset (cycles, nodes that do not lead to the Output, a pool
    between a synaptic node and its neurons, two synaptic nodes in a row).
    """
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise ConversionError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    check_graph(graph, dt_ms)  # structure, values and metadata, naming node and field
    meta = dict(graph.metadata or {})
    inp, pops, preds = populations(graph)
    dt_ms, dt_known = resolve_dt(graph, dt_ms, meta)
    dt = dt_ms * 1e-3
    legacy = _meta_str(meta.get("producer"), "") == "spikescope"  # before if_r: IF r = 1
    if_r = check_if_r(if_r or _meta_str(meta.get("if_r"), "unit" if legacy else "nir"))
    input_shape = tuple(int(d) for d in np.asarray(graph.nodes[inp].input_type["input"]))
    index = {inp: INPUT, **{k: l for l, k in enumerate(pops)}}
    stages: list[Stage] = []
    thresholds: list[float] = []
    leaks: list[float] = []
    resets: list[str] = []
    names: set[str] = set()
    readout = "membrane" if isinstance(graph.nodes[pops[-1]], nir.I) else "spikes"
    for l, key in enumerate(pops):
        gain = _neuron_gain(graph.nodes[key], key, dt, if_r, dt_known, thresholds, leaks,
                            resets)
        terms = []
        for src, path in paths_into(graph, preds, key, set(index)):
            t, m, pool_gain = path_term(graph, key, path)
            t.weight, t.bias = t.weight * (gain * pool_gain), t.bias * gain
            terms.append((t, m, index[src]))
        if not terms:
            raise ConversionError(f"NIR node {key!r} has no synaptic layer before it")
        own, *branches = join_parts(terms)
        name = (terms[0][1] or {}).get("stage")  # spikescope's own: the layer's name
        if not (isinstance(name, str) and 0 < len(name) <= 200) or name in names:
            name = f"{'fc' if own.kind == 'linear' else 'conv'}{l + 1}"
        names.add(name)
        bias = own.bias
        for b in branches:
            bias = bias + b.bias
        stages.append(own.copy(name=name, bias=bias, branches=[
            b.copy(bias=torch.zeros_like(b.bias)) for b in branches]))
    if not stages:
        raise ConversionError("NIR graph has no synaptic layer followed by neurons")
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


def _neuron_gain(node: Any, key: str, dt: float, if_r: str, dt_known: bool,
                 thresholds: list[float], leaks: list[float], resets: list[str]) -> float:
    """The per-step input gain of neuron node ``key`` (folded into its terms' weights); its
    threshold, leak and reset are appended to the lists (checked for one value later)."""
    import nir

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
        return _uniform(node.r, f"{key}: r")  # the integrator I (membrane readout)
    vt = _uniform(node.v_threshold, f"{key}: v_threshold")
    exact = (node.metadata or {}).get("threshold")  # spikescope's own
    thresholds.append(float(np.asarray(exact)) if exact is not None else import_threshold(vt))
    if _uniform(node.v_reset, f"{key}: v_reset") != 0:
        raise ConversionError(f"NIR node {key!r}: v_reset must be 0")
    resets.append(_meta_str((node.metadata or {}).get("reset"), "zero"))
    return gain


def nxt_is_output(graph: Any, succ: dict[str, list[str]], key: str) -> bool:
    """Whether node ``key``'s only successor is an Output node (kept for callers of the chain
    reader)."""
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
