"""Graph conversion (issue 17): residual and concatenating networks, the layers researchers
build them from, refusals that name the op, and the invariants chains already had."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import spikescope as ss
from spikescope import metrics
from spikescope.sim import graph, layerwise
from tests import graph_models as G

TABLE = [  # (model, input shape): every row of the table
    (G.ResNet, (3, 16, 16)), (G.Inception, (3, 16, 16)), (G.DenseBlock, (1, 8, 8)),
    (G.UNet, (1, 8, 8)), (G.ConvAutoencoder, (1, 8, 8)), (G.Signal1d, (1, 30)),
    (G.Pools, (1, 8, 8)), (G.CustomBlocks, (1, 8, 8)),
]


def _same_run(net, x, T=20):
    """run() on the fast path and by stepping (the reference) give the same bits."""
    fast = net.run(x, T)
    net.fused_kernels = False
    try:
        ref = net.run(x, T)
    finally:
        net.fused_kernels = True
    return all(torch.equal(a, b) for a, b in zip(fast.spike_counts, ref.spike_counts)) \
        and torch.equal(fast.output_counts, ref.output_counts)


@pytest.mark.parametrize("make,shape", TABLE, ids=[m.__name__ for m, _ in TABLE])
def test_every_row_of_the_table_converts_and_keeps_the_invariants(make, shape):
    torch.manual_seed(0)
    model = G.randomize_bn(make())
    x = torch.rand(24, *shape)
    net = ss.convert(model, x)
    with torch.no_grad():
        want = model(x).reshape(len(x), -1)
    got = net.ann_forward(x).reshape(len(x), -1) * net.lambdas[-1]
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)  # the normalized ANN is the ANN
    assert _same_run(net, x[:3])
    # batch independence: one sample alone gives the bits it gives in a batch
    alone = net.run(x[1:2], 20)
    batch = net.run(x[:3], 20)
    assert all(torch.equal(a[:, 1:2], b) for a, b in zip(
        [c.unsqueeze(0) for c in batch.spike_counts], [c.unsqueeze(0) for c in alone.spike_counts]))
    # one recording entry per spiking node, in topological order
    assert len(batch.spike_counts) == len(net.stages) == len(net.layer_names)


def test_residual_and_concat_names_are_module_paths_and_joins_are_kept():
    net = ss.convert(G.randomize_bn(G.ResNet()), torch.rand(8, 3, 16, 16))
    assert not net.is_chain
    assert net.layer_names == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1",
                               "layer2.0.conv2", "fc"]
    # identity shortcut: layer1.0.conv2 also reads conv1's spikes; the stride-2 block's
    # downsample is a 1x1 convolution branch reading layer1's output
    assert [b.kind for b in net.stages[2].branches] == ["identity"]
    assert net.stages[2].branches[0].sources == (0,)
    assert [b.kind for b in net.stages[4].branches] == ["conv"]
    assert net.stages[4].branches[0].sources == (2,)
    inc = ss.convert(G.randomize_bn(G.Inception()), torch.rand(8, 3, 16, 16))
    assert inc.stages[-1].sources == (1, 3, 4, 5)  # the classifier reads the concatenation


def test_layer_by_layer_path_is_taken_on_graphs():
    net = ss.convert(G.randomize_bn(G.ResNet()), torch.rand(8, 3, 16, 16))
    assert all(g is not None for g in net.grids[1:])
    assert layerwise.applicable(net, 20, 3)


def test_fan_out_counts_every_term_that_reads_a_neuron():
    """Synaptic operations with exact fan-out through the joins: compare with a brute-force
    count of the dense connectivity of every term (d current / d spike)."""
    torch.manual_seed(1)
    net = ss.convert(G.randomize_bn(G.ResNet(cin=1, width=2)), torch.rand(8, 1, 8, 8))
    inputs, outs = graph.fan_outs(net.stages)
    for src in range(-1, len(net.stages)):
        shape = net.input_shape if src == -1 else net.stages[src].out_shape
        n = int(torch.tensor(shape).prod())
        count = torch.zeros(n)
        for s in net.stages:
            for term in s.terms():
                if src not in term.sources:
                    continue
                ones = term.copy(weight=torch.ones_like(term.weight), branches=[])
                parts = [torch.zeros((1, *(net.input_shape if i == -1 else
                                           net.stages[i].out_shape))) for i in term.sources]
                k = term.sources.index(src)
                for j in range(n):  # one neuron at a time: how many currents it reaches
                    parts[k].view(-1).zero_()
                    parts[k].view(-1)[j] = 1.0
                    h = torch.cat(parts, 1)
                    for op in term.pre:
                        h = F.avg_pool2d(h, op.kernel_size, op.stride, op.padding,
                                         divisor_override=1) if isinstance(
                            op, (nn.AvgPool2d, nn.MaxPool2d)) else op(h)
                    count[j] += float(ones.synapse(h, bias=False).sum())
                parts[k].view(-1).zero_()
        got = inputs if src == -1 else outs[src]
        assert torch.equal(got, count), net.layer_names[src] if src >= 0 else "input"
    assert metrics.ann_ops(G.randomize_bn(G.ResNet(cin=1, width=2)), (1, 8, 8)) > 0


@pytest.mark.parametrize("module,name", [
    (nn.GELU(), "GELU"), (nn.SiLU(), "SiLU"), (nn.LayerNorm([4, 8, 8]), "LayerNorm"),
    (nn.Sigmoid(), "Sigmoid")])
def test_unsupported_layers_are_named_by_path_and_type(module, name):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.act = module

        def forward(self, x):
            return self.act(self.conv(x))

    model = nn.Sequential(Block(), nn.Flatten(), nn.Linear(256, 3))
    with pytest.raises(ss.ConversionError) as e:
        ss.convert(model, torch.rand(4, 1, 8, 8))
    msg = str(e.value)
    assert f"'0.act' ({name})" in msg and "Conv2d" in msg and "torch.cat" in msg
    assert "getitem" not in msg and "getattr" not in msg and len(msg) < 700


def test_unsupported_functions_lstm_and_attention_are_named():
    class Gelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(F.gelu(x))

    with pytest.raises(ss.ConversionError, match="operation gelu in forward"):
        ss.convert(Gelu(), torch.rand(4, 8))

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 8, batch_first=True)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    with pytest.raises(ss.ConversionError, match=r"'rnn' \(LSTM\)"):
        ss.convert(Seq(), torch.rand(4, 5, 8))

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.attn(x, x, x)[0])

    with pytest.raises(ss.ConversionError, match=r"'attn' \(MultiheadAttention\)"):
        ss.convert(Attn(), torch.rand(4, 5, 8))


def test_adaptive_pool_that_does_not_divide_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(32, 2))
    with pytest.raises(ss.ConversionError, match=r"from \(6, 6\) to \(4, 4\).*multiple"):
        ss.convert(model, torch.rand(4, 1, 8, 8))


def test_hidden_linear_layers_are_folded_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)).eval()
    x = torch.rand(32, 4)
    net = ss.convert(model, x)
    assert len(net.stages) == 1  # W2 W1 x + W2 b1 + b2: one layer
    with torch.no_grad():
        assert torch.allclose(net.ann_forward(x) * net.lambdas[-1], model(x), atol=1e-6)


def test_hidden_conv_without_relu_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(32, 2))
    with pytest.raises(ss.ConversionError, match=r"'1' \(Conv2d\) takes the output of '0' "
                                                 r"with no ReLU"):
        ss.convert(model, torch.rand(4, 1, 8, 8))


def test_callers_model_is_unchanged():
    torch.manual_seed(0)
    model = G.ResNet().train()
    before = copy.deepcopy(model.state_dict())
    grads = [p.requires_grad for p in model.parameters()]
    ss.convert(model, torch.rand(8, 3, 16, 16))
    metrics.ann_ops(model, (3, 16, 16))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == grads
    assert all(p.device.type == "cpu" for p in model.parameters())


# --------------------------------------------------------------------- random graphs
class _RandomGraph(nn.Module):
    """Blocks drawn from: conv-relu, residual (identity or 1x1 shortcut), concat of two
    branches, avg/max pool; then flatten, optional hidden linear-relu, linear."""

    def __init__(self, plan: list[str], seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.plan, c, hw = plan, 2, 8
        self.blocks = nn.ModuleList()
        for kind in plan:
            if kind == "conv":
                self.blocks.append(nn.Conv2d(c, 3, 3, padding=1))
                c = 3
            elif kind in ("res", "res1x1"):
                cout = c if kind == "res" else c + 1
                self.blocks.append(nn.ModuleList([
                    nn.Conv2d(c, cout, 3, padding=1), nn.Conv2d(cout, cout, 3, padding=1),
                    nn.Conv2d(c, cout, 1) if kind == "res1x1" else nn.Identity()]))
                c = cout
            elif kind == "cat":
                self.blocks.append(nn.ModuleList([nn.Conv2d(c, 2, 1), nn.Conv2d(c, 2, 3,
                                                                                padding=1)]))
                c = 4
            elif kind in ("avg", "max") and hw > 2:
                self.blocks.append(nn.AvgPool2d(2) if kind == "avg" else nn.MaxPool2d(2))
                hw //= 2
            else:
                self.blocks.append(nn.Identity())
        self.hidden = nn.Linear(c * hw * hw, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        for kind, b in zip(self.plan, self.blocks):
            if kind == "conv":
                x = F.relu(b(x))
            elif kind in ("res", "res1x1"):
                x = F.relu(b[1](F.relu(b[0](x))) + b[2](x))
            elif kind == "cat":
                x = torch.cat([F.relu(b[0](x)), F.relu(b[1](x))], 1)
            else:
                x = b(x)
        return self.out(F.relu(self.hidden(torch.flatten(x, 1))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=st.lists(st.sampled_from(["conv", "res", "res1x1", "cat", "avg", "max"]),
                     min_size=1, max_size=5),
       seed=st.integers(0, 2**16), percentile=st.sampled_from([99.0, 100.0]))
def test_random_graphs_normalize_exactly_and_both_paths_agree(plan, seed, percentile):
    model = _RandomGraph(plan, seed).eval()
    x = torch.rand(12, 2, 8, 8)
    net = ss.convert(model, x, percentile=percentile)
    with torch.no_grad():
        want = model(x)
    assert torch.allclose(net.ann_forward(x) * net.lambdas[-1], want, atol=1e-5, rtol=1e-4)
    assert _same_run(net, x[:2], T=15)


@pytest.mark.parametrize("code", ["ttfs", "ttfs-dyn-thresh", "pattern"])
def test_codes_for_chains_refuse_graphs_clearly(code):
    with pytest.raises(ValueError, match=f"code '{code}' simulates plain chains.*rate"):
        ss.convert(G.randomize_bn(G.ResNet()), torch.rand(8, 3, 16, 16), code=code)


def test_direct_and_rate_codes_take_graphs():
    net = ss.convert(G.randomize_bn(G.UNet()), torch.rand(8, 1, 8, 8), code="rate",
                     readout="membrane")
    rec = net.run(torch.rand(2, 1, 8, 8), 10)
    assert rec.output_counts.shape[-1] == 64  # a 1x8x8 reconstruction, one value per pixel


# --------------------------------------------------------------------- trained networks
def _digits32(split):
    x, y = ss.datasets.load("digits", split)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    return x.expand(-1, 3, -1, -1).contiguous(), y


@pytest.mark.parametrize("name,make", [("graph-resnet", G.ResNet),
                                       ("graph-inception", G.Inception)])
def test_trained_resnet_and_inception_spike_as_their_ann(name, make):
    """Trained by scripts/train_graph_examples.py on the digits upscaled to 3x32x32: the SNN
    at T = 300 is within 2 points of the ANN on the first 120 test images."""
    from pathlib import Path

    from spikescope.io.weights import load_meta, load_weights

    path = Path(__file__).parent / "data" / name
    model = make()
    model.load_state_dict(load_weights(path))
    model.eval()
    xtr, _ = _digits32("train")
    xte, yte = _digits32("test")
    assert metrics.model_accuracy(model, xte, yte) == pytest.approx(
        load_meta(path)["test_accuracy"], abs=1e-6)
    net = ss.convert(model, xtr[:300])
    n = 120
    ann = metrics.model_accuracy(model, xte[:n], yte[:n])
    snn = metrics.accuracy(net.run(xte[:n], 300, record=()).predictions(), yte[:n])
    assert ann > 0.8, f"{name}: the ANN was not trained ({ann:.3f})"
    assert abs(snn - ann) <= 0.02, f"{name}: SNN {snn:.3f} vs ANN {ann:.3f}"


def test_a_sum_of_rectified_branches_feeds_a_layer_directly():
    """W (relu(a) + relu(b)) = W relu(a) + W relu(b): no extra node; with a ReLU and a
    max-pool after the sum, the sum becomes a node of its own (named after the add)."""
    class SumOfReLUs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 3, padding=1)
            self.out = nn.Conv2d(4, 1, 3, padding=1)

        def forward(self, x):
            return self.out(F.relu(self.a(x)) + F.relu(self.b(x)))

    class Pooled(SumOfReLUs):
        def forward(self, x):
            return self.out(F.max_pool2d(F.relu(F.relu(self.a(x)) + F.relu(self.b(x))), 2))

    x = torch.rand(8, 1, 8, 8)
    for make, names in ((SumOfReLUs, ["a", "b", "out"]), (Pooled, ["a", "b", "add", "out"])):
        torch.manual_seed(0)
        model = make().eval()
        net = ss.convert(model, x)
        assert net.layer_names == names
        with torch.no_grad():
            assert torch.allclose(net.ann_forward(x) * net.lambdas[-1], model(x), atol=1e-5)
        assert _same_run(net, x[:2])
