"""NIR export and import of graph networks (residual additions, concatenations), checked by
spikescope and by the peers (tests/requirements-interop.txt).

NIR sums the edges that arrive at a node: a residual join is several edges into one neuron
node; a concatenation is written as one synaptic node per source with its slice of the
weights (NIR 1.0 has no concat node); an identity shortcut as a diagonal 1x1 Conv2d / Affine
(no peer maps NIR's Scale). Measured (print with -s):
- spikescope -> file -> spikescope: every layer's spike trains equal, bit for bit (same
  weights, same exact-sum grids); with lif_r="unit" (W tau/dt in the file) weights can move
  by one grid step (output spikes still agreed on every step measured).
- SpikingJelly 2.0 (conv ResNet-style, Inception-style, MLP residual + concat, the trained
  zoo digits-resnet): 100% of steps (the file holds the simulated, on-grid weights).
- snnTorch 1.0 (LIF, its fixed dt = 0.1 ms; MLP residual + concat): 100% of steps. Its conv
  import passes NIR's numpy groups to F.conv2d (TypeError), its IF import returns a tuple.
- nirtorch 2.6 ``nir_to_torch`` with NIR's IF written out: 100% of steps.
- Norse 1.1 and sinabs 3.1 call nirtorch's legacy ``nirtorch.load``, whose GraphExecutor runs
  the nodes in depth-first order from the input, not a topological order: a join can run
  before one of its inputs (it then reads that input's previous step, as for recurrence) and
  the result is the last node visited, not the Output. They cannot run a graph with joins.
  Their conv chains fail before that: Norse maps no AvgPool2d, and both read NIR's Flatten
  (start_dim 0, the first non-batch axis) as torch's Flatten(0), flattening the batch.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spikescope as ss
import spikescope.io as sio
from spikescope.io.nir_conventions import NIRSemanticsWarning
from tests.interop.peer_helpers import NirIF, run_peer

T = 20
logging.disable(logging.WARNING)


class ResNetLike(nn.Module):
    """A residual block with an identity shortcut, one with a 1x1 strided downsample."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 4, 3, padding=1)
        self.c4 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.down = nn.Conv2d(4, 6, 1, stride=2)
        self.fc = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x):
        a = F.relu(self.c1(x))
        b = F.relu(self.c2(a))
        c = F.relu(self.c3(b) + a)
        d = F.relu(self.c4(c) + self.down(c))
        d = F.avg_pool2d(d, 2)
        return self.fc(d.view(d.size(0), -1))


class InceptionLike(nn.Module):
    """Two branches concatenated along channels, then pooled and read out."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.b1 = nn.Conv2d(4, 3, 1)
        self.b2 = nn.Conv2d(4, 2, 3, padding=1)
        self.fc = nn.Linear(5 * 4 * 4, 5)

    def forward(self, x):
        a = F.relu(self.c1(x))
        y = torch.cat([F.relu(self.b1(a)), F.relu(self.b2(a))], 1)
        return self.fc(torch.flatten(F.avg_pool2d(y, 2), 1))


class ResidualMLP(nn.Module):
    """A residual addition (identity shortcut) and a concatenation, all Linear: the form the
    peers' NIR readers take (no Flatten, no pooling)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 32)
        self.fa = nn.Linear(32, 12)
        self.fb = nn.Linear(32, 8)
        self.out = nn.Linear(20, 10)

    def forward(self, x):
        a = F.relu(self.fc1(x))
        b = F.relu(self.fc2(a) + a)
        return self.out(torch.cat([F.relu(self.fa(b)), F.relu(self.fb(b))], 1))


def _active(model: nn.Module) -> nn.Module:
    """Mostly positive weights, so that every layer of an untrained net fires."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.abs() - 0.1 * p.abs().mean())
    return model.eval()


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(1)
    return torch.rand(16, 1, 8, 8)


def _file(net, **kw) -> nir.NIRGraph:
    """spikescope -> NIR file -> nir.read: what a peer gets."""
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as d:
        warnings.simplefilter("ignore", NIRSemanticsWarning)
        sio.save_nir(net, Path(d) / "net.nir", **kw)
        return nir.read(str(Path(d) / "net.nir"))


def _structure(net):
    return [(s.kind, s.sources, tuple(s.weight.shape), [(b.kind, b.sources) for b in s.branches])
            for s in net.stages]


@pytest.mark.parametrize("model_cls", [ResNetLike, InceptionLike, ResidualMLP])
@pytest.mark.parametrize("opts,export", [
    ({}, {}), ({}, {"if_r": "unit"}), ({"readout": "membrane", "dt_ms": 0.5}, {}),
    ({"reset": "zero", "leak": 0.9, "neuron": "lif"}, {}),
    ({"leak": 0.9, "neuron": "lif"}, {"lif_r": "unit"})])
def test_graph_round_trip_through_a_file_gives_the_same_spikes(model_cls, opts, export, x):
    data = x.flatten(1) if model_cls is ResidualMLP else x
    net = ss.convert(_active(model_cls()), data, **opts)
    assert not net.is_chain
    back = sio.from_nir(_file(net, **export))
    assert _structure(back) == _structure(net)
    assert back.layer_names == net.layer_names and back.grids == net.grids
    ra, rb = net.run(data, T), back.run(data, T)
    assert back.readout == net.readout and back.params == net.params
    assert ra.spike_trains[0].sum() > 0, "the test network should fire"
    if export.get("lif_r"):
        # W tau/dt in the file, times dt/tau on the way back: float32 rounding can move a
        # weight by one step of its layer's exact-sum grid, so the bits may differ
        for a, b, g in zip(net.simulated_stages, back.simulated_stages, net.grids):
            for ta, tb in zip(a.terms(), b.terms()):
                tol = 2.0 ** -(g - 2) if g is not None else 1e-6 * float(ta.weight.abs().max())
                assert (ta.weight - tb.weight).abs().max() <= tol, f"{a.name}: weights moved"
        steps = float((ra.spike_trains[-1] == rb.spike_trains[-1]).float().mean())
        print(f"{model_cls.__name__} lif_r='unit' round trip: output steps {steps}")
        assert steps >= 0.99
        return
    for a, b in zip(net.simulated_stages, back.simulated_stages):
        for ta, tb in zip(a.terms(), b.terms()):
            assert torch.equal(ta.weight, tb.weight), f"{a.name}: weights changed on the way"
    assert torch.equal(ra.output_potential, rb.output_potential)
    for name, ta, tb in zip(net.layer_names, ra.spike_trains, rb.spike_trains):
        assert torch.equal(ta, tb), f"layer {name}: spike trains differ after the round trip"
    assert torch.equal(ra.output_counts, rb.output_counts)


def test_joins_are_edges_into_one_neuron_node_and_concat_is_weight_slices(x):
    res = _file(ss.convert(_active(ResNetLike()), x, reset="zero"))
    into = {k: [a for a, b in res.edges if b == k] for k in res.nodes}
    assert sorted(into["c3_neurons"]) == ["c3", "c3_branch1"]
    assert into["c3_branch1"] == ["c1_neurons"]  # the identity shortcut skips c2
    shortcut = res.nodes["c3_branch1"]  # a diagonal 1x1 convolution
    w = np.asarray(shortcut.weight)[..., 0, 0]
    assert isinstance(shortcut, nir.Conv2d) and np.array_equal(w, np.diag(np.diag(w)))
    assert sorted(into["c4_neurons"]) == ["c4", "c4_branch1"]
    net = ss.convert(_active(InceptionLike()), x, reset="zero")
    cat = _file(net)
    into = {k: [a for a, b in cat.edges if b == k] for k in cat.nodes}
    assert sorted(into["fc_neurons"]) == ["fc_part0", "fc_part1"]
    w = net.simulated_stages[-1].weight.numpy()  # (5, 80): 3 channels x 16 positions, then 2
    np.testing.assert_array_equal(cat.nodes["fc_part0"].weight, w[:, :48])
    np.testing.assert_array_equal(cat.nodes["fc_part1"].weight, w[:, 48:])
    assert not any(isinstance(n, nir.Scale) for n in cat.nodes.values())


def test_foreign_graph_with_fan_in_imports_as_branches():
    """Two Affine paths and a Scale into one IF node, no spikescope metadata: NIR's sum."""
    rng = np.random.default_rng(0)
    w1, w2, w3 = (rng.uniform(0, 0.5, s).astype(np.float32) for s in ((6, 4), (3, 6), (3, 4)))
    one = np.ones(6, np.float32)
    nodes = {"in": nir.Input(input_type=np.array([4])),
             "a": nir.Affine(weight=w1, bias=np.zeros(6, np.float32)),
             "n1": nir.IF(r=one, v_threshold=one),
             "b": nir.Affine(weight=w2, bias=np.full(3, 0.1, np.float32)),
             "skip": nir.Affine(weight=w3, bias=np.zeros(3, np.float32)),
             "s": nir.Scale(scale=np.full(3, 0.5, np.float32)),
             "pre": nir.Affine(weight=np.eye(3, 4, dtype=np.float32),
                               bias=np.zeros(3, np.float32)),
             "n2": nir.IF(r=np.ones(3, np.float32), v_threshold=np.ones(3, np.float32)),
             "out": nir.Output(output_type=np.array([3]))}
    edges = [("in", "a"), ("a", "n1"), ("n1", "b"), ("b", "n2"), ("in", "skip"),
             ("skip", "n2"), ("n2", "out")]
    net = sio.from_nir(nir.NIRGraph(nodes={k: v for k, v in nodes.items()
                                           if k not in ("s", "pre")}, edges=edges),
                       if_r="unit")
    assert [(b.kind, b.sources) for b in net.stages[1].branches] == [("linear", (-1,))]
    xin = torch.rand(5, 4)
    rec = net.run(xin, 15)
    v1, v2, counts = torch.zeros(5, 6), torch.zeros(5, 3), torch.zeros(5, 3)
    for _ in range(15):  # NIR's semantics written out: edges into n2 are summed
        v1 += xin @ torch.from_numpy(w1).T
        s1 = (v1 >= 1).float()
        v1 *= 1 - s1
        v2 += s1 @ torch.from_numpy(w2).T + 0.1 + xin @ torch.from_numpy(w3).T
        s2 = (v2 >= 1).float()
        v2 *= 1 - s2
        counts += s2
    assert torch.allclose(rec.output_counts[-1].float(), counts)


def test_nir_scale_reads_as_a_per_channel_identity_term():
    """NIR's Scale on a residual path (the spec's node for it) is a per-channel identity."""
    one = np.ones(3, np.float32)
    w = np.full((3, 3), 0.3, np.float32)
    nodes = {"in": nir.Input(input_type=np.array([3])),
             "a": nir.Affine(weight=w, bias=np.zeros(3, np.float32)),
             "n1": nir.IF(r=one, v_threshold=one),
             "b": nir.Affine(weight=w, bias=np.zeros(3, np.float32)),
             "s": nir.Scale(scale=np.array([0.5, 0.25, 0.0], np.float32)),
             "n2": nir.IF(r=one, v_threshold=one), "out": nir.Output(output_type=np.array([3]))}
    edges = [("in", "a"), ("a", "n1"), ("n1", "b"), ("b", "n2"), ("n1", "s"), ("s", "n2"),
             ("n2", "out")]
    net = sio.from_nir(nir.NIRGraph(nodes=nodes, edges=edges), if_r="unit")
    (shortcut,) = net.stages[1].branches
    assert shortcut.kind == "identity" and shortcut.weight.tolist() == [0.5, 0.25, 0.0]
    nodes["s"] = nir.Scale(scale=np.array([[0.5, 1.0]] * 3, np.float32))
    with pytest.raises(ss.ConversionError, match="per channel"):
        sio.from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), if_r="unit")


@pytest.mark.parametrize("build,phrase", [
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                           nn.ConvTranspose2d(2, 1, 2, stride=2)), "ConvTranspose2d has no NIR"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
                           nn.Conv2d(2, 1, 3, padding=1)), "upsampling"),
])
def test_layers_without_a_nir_node_are_refused_by_name(build, phrase, x):
    net = ss.convert(build().eval(), x)
    with pytest.raises(ss.ConversionError, match=phrase) as e:
        sio.to_nir(net, reset="zero")
    assert net.stages[-1].name in str(e.value)


def _chain_graph():
    one = np.ones(3, np.float32)
    nodes = {"in": nir.Input(input_type=np.array([3])),
             "a": nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32)),
             "n": nir.IF(r=one, v_threshold=one),
             "b": nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32)),
             "m": nir.IF(r=one, v_threshold=one),
             "out": nir.Output(output_type=np.array([3]))}
    return nodes, [("in", "a"), ("a", "n"), ("n", "b"), ("b", "m"), ("m", "out")]


@pytest.mark.parametrize("extra,phrase", [
    ([("m", "a")], "cycle"),  # recurrence
    ([("n", "dead")], "does not lead to the Output"),
])
def test_graphs_outside_the_subset_are_refused_by_node(extra, phrase):
    nodes, edges = _chain_graph()
    nodes["dead"] = nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32))
    g = nir.NIRGraph(nodes=nodes, edges=edges + extra, type_check=False)
    with pytest.raises(ss.ConversionError, match=phrase):
        sio.from_nir(g, if_r="unit")


def test_pool_after_a_synapse_is_refused_by_node():
    nodes, edges = _chain_graph()
    nodes["f"] = nir.Flatten(input_type={"input": np.array([3])}, start_dim=0)
    edges = [e for e in edges if e != ("b", "m")] + [("b", "f"), ("f", "m")]
    with pytest.raises(ss.ConversionError, match="'f' .*between the synaptic layer 'b'"):
        sio.from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), if_r="unit")


# ----------------------------------------------------------------------------- peers
def test_spikingjelly_runs_the_conv_resnet_file_exactly(x):
    from spikingjelly.activation_based.nir_exchange import from_nir as sj

    for cls in (ResNetLike, InceptionLike):
        net = ss.convert(_active(cls()), x, reset="zero")
        ref = net.run(x, T).spike_trains[-1].float()
        got = run_peer(sj.import_from_nir(_file(net), dt=net.dt_ms * 1e-3), x, T)
        agree = float((got.reshape(ref.shape) == ref).float().mean())
        print(f"spikescope {cls.__name__} -> NIR -> spikingjelly: steps {agree}")
        assert ref.sum() > 0 and agree == 1.0


def _affine(n):  # nirtorch 2.6's default Affine map drops the bias (test_nir_peers.py)
    lin = nn.Linear(n.weight.shape[1], n.weight.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(n.weight))
        lin.bias.copy_(torch.as_tensor(n.bias))
    return lin


@pytest.mark.parametrize("peer", ["spikingjelly", "snntorch", "nirtorch"])
def test_peers_run_the_residual_concat_file_exactly(peer, x):
    data = x.flatten(1)
    if peer == "snntorch":  # LIF at its fixed dt = 0.1 ms; its IF import is broken
        net = ss.convert(_active(ResidualMLP()), data, reset="zero", leak=0.95, neuron="lif",
                         dt_ms=0.1)
    else:
        net = ss.convert(_active(ResidualMLP()), data, reset="zero")
    ref = net.run(data, T).spike_trains[-1].float()
    g = _file(net)
    if peer == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import from_nir as sj

        m = sj.import_from_nir(g, dt=net.dt_ms * 1e-3)
    elif peer == "snntorch":
        import snntorch.import_nir as snn_nir

        m = snn_nir.import_from_nir(g)
    else:
        import nirtorch

        m = nirtorch.nir_to_torch(g, {nir.IF: lambda n: NirIF(n, net.dt_ms * 1e-3),
                                      nir.Affine: _affine})
    got = run_peer(m, data, T)
    agree = float((got.reshape(ref.shape) == ref).float().mean())
    print(f"spikescope residual+concat MLP -> NIR -> {peer}: steps {agree}")
    assert ref.sum() > 0 and agree == 1.0


@pytest.mark.parametrize("peer", ["norse", "sinabs"])
def test_norse_and_sinabs_cannot_run_joins(peer, x):
    """Their reader, nirtorch's legacy GraphExecutor, runs nodes depth-first (a peer
    limitation, see the module docstring): on a graph with joins it does not return the
    Output's spikes."""
    import norse.torch as norse
    import sinabs.nir as sinabs_nir

    data = x.flatten(1)
    net = ss.convert(_active(ResidualMLP()), data, reset="zero")
    g = _file(net, if_r="unit")
    m = norse.from_nir(g, dt=1e-3) if peer == "norse" else sinabs_nir.from_nir(g, batch_size=16)
    out = m(data)
    out = out[0] if isinstance(out, tuple) else out
    assert tuple(out.shape) != (16, 10)  # the last node of its depth-first walk, not Output


@pytest.mark.parametrize("shape", ["long chain", "diamonds"])
def test_hostile_path_counts_are_refused_quickly(shape):
    """5000 Flatten nodes in a row, or 20 diamonds (2^20 paths): ConversionError, no
    RecursionError or exponential walk."""
    flat = lambda: nir.Flatten(input_type={"input": np.array([3])}, start_dim=0)  # noqa: E731
    nodes, edges, prev = {"in": nir.Input(input_type=np.array([3]))}, [], ["in"]
    for i in range(5000 if shape == "long chain" else 20):
        new = [f"p{i}"] if shape == "long chain" else [f"p{i}", f"q{i}"]
        nodes |= {k: flat() for k in new}
        edges += [(p, k) for p in prev for k in new]
        prev = new
    one = np.ones(3, np.float32)
    nodes |= {"a": nir.Affine(weight=np.eye(3, dtype=np.float32), bias=np.zeros(3, np.float32)),
              "n": nir.IF(r=one, v_threshold=one), "out": nir.Output(output_type=np.array([3]))}
    edges += [(p, "a") for p in prev] + [("a", "n"), ("n", "out")]
    with pytest.raises(ss.ConversionError, match="'n': more than 256 synaptic paths"):
        sio.from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), if_r="unit")


def test_zoo_resnet_through_nir_in_spikescope_and_spikingjelly():
    """digits-resnet (trained; BN-folded 1x1 downsample, global average pool): the file holds
    the simulated weights (on their exact-sum grids), so spikescope reads back the same bits
    and SpikingJelly's float sums of spikes are exact too: the same spikes at every step."""
    from spikingjelly.activation_based.nir_exchange import from_nir as sj

    from spikescope import datasets, zoo

    xtr, _ = datasets.load("digits", "train")
    x, y = datasets.load("digits", "test")
    x = x[:48]
    net = ss.convert(zoo.load("digits-resnet"), xtr[:300], reset="zero")
    g = _file(net)
    back = sio.from_nir(g)
    ra, rb = net.run(x, T), back.run(x, T)
    for name, ta, tb in zip(net.layer_names, ra.spike_trains, rb.spike_trains):
        assert torch.equal(ta, tb), f"layer {name}: spike trains differ after the round trip"
    got = run_peer(sj.import_from_nir(g, dt=net.dt_ms * 1e-3), x, T)
    ref = ra.spike_trains[-1].float()
    agree = float((got.reshape(ref.shape) == ref).float().mean())
    print(f"digits-resnet -> NIR -> spikingjelly: steps {agree}")
    assert agree == 1.0
    normalized = run_peer(sj.import_from_nir(_file(net, weights="normalized"),
                                             dt=net.dt_ms * 1e-3), x, T)
    print(f"  with the ANN's weights off the grid: steps "
          f"{float((normalized.reshape(ref.shape) == ref).float().mean())}")
