"""The time-blocked layer-by-layer path equals stepping bit for bit, whatever the block size.

``run`` goes layer by layer over blocks of k steps (:mod:`spikescope.sim.layerwise`),
carrying every layer's neuron state and the spiking max-pool gates' counts from block to
block. Here k is forced to 1, 7 and T (7 does not divide T: the last block is shorter) for
every case tests/test_fastpath.py covers, and for residual and concatenating graphs; the
reference is stepping with plain torch operations (``fused_kernels = False``).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import spikescope as ss
from spikescope.neurons import NeuronParams
from spikescope.sim import layerwise, stages
from tests.test_fastpath import CASES, T, assert_same, inclusive_threshold_net, reference, repeat

BLOCKS = (1, 7, T)


def blocked(net, x, k, steps=T, **kwargs):
    """``net.run(x, steps, ...)`` in blocks of ``k`` steps; checks that it took
    ceil(steps / k) blocks of the layer-by-layer path."""
    calls = []
    inner = layerwise._run_block

    def counting(net_, inputs, *args):
        calls.append(len(inputs))
        return inner(net_, inputs, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(layerwise, "block_size", lambda *_: k)
        mp.setattr(layerwise, "_run_block", counting)
        rec = net.run(x, steps, **kwargs)
    assert len(calls) == math.ceil(steps / min(k, steps)), "the run did not go in blocks"
    assert sum(calls) == steps
    return rec


def same_state(net, ref_v):
    return all(torch.equal(s.v, v) for s, v in zip(net.state, ref_v))


@pytest.fixture(scope="module")
def cnn(digits, digits_cnn):
    return ss.convert(digits_cnn, digits[0][:200])


@pytest.fixture(scope="module")
def maxpool_cnn(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(96, 10)).eval()
    return ss.convert(model, digits[0][:200])


# ----------------------------------------------------------------------------- chains
@pytest.mark.parametrize("leak,reset,refractory,clamp,readout", CASES)
def test_every_neuron_variant_in_blocks(digits, digits_cnn, leak, reset, refractory, clamp,
                                        readout):
    """Leak, reset to zero, refractory periods carried across blocks, clamping that ends
    inside a block (clamp_delay 3: layer l starts at step 3 l), membrane readout."""
    net = ss.convert(digits_cnn, digits[0][:200], leak=leak, reset=reset, clamp_delay=clamp,
                     readout=readout)
    net.params = NeuronParams(leak=leak, reset=reset, refractory=refractory)
    x = digits[0][:3] * 2.0
    ref, ref_v = reference(net, repeat(x))
    for k in BLOCKS:
        assert_same(blocked(net, x, k), ref)
        assert same_state(net, ref_v), f"final membrane differs with blocks of {k}"


def test_saturating_input_in_blocks(cnn, digits):
    x = digits[0][:2] * 20.0
    ref, _ = reference(cnn, repeat(x))
    for k in BLOCKS:
        rec = blocked(cnn, x, k)
        assert_same(rec, ref)
        assert int(rec.spike_counts[0].max()) == T


@pytest.mark.parametrize("encoding", ["poisson", "events"])
def test_time_varying_input_and_max_pool_gate_in_blocks(cnn, maxpool_cnn, digits, encoding):
    """Per-step input currents, and the spiking max-pool gate whose running counts carry
    from one block to the next."""
    x = digits[0][:4]
    for net in (cnn, maxpool_cnn):
        if encoding == "events":
            gen = torch.Generator().manual_seed(1)
            x_in = inputs = torch.poisson(repeat(x) * 0.7, generator=gen)
        else:
            x_in, inputs = x, ss.encoding.encode(x, T, "poisson", max_rate_hz=500, seed=3)
        ref, ref_v = reference(net, inputs)
        for k in BLOCKS:
            assert_same(blocked(net, x_in, k, encoding=encoding, max_rate_hz=500, seed=3), ref)
            assert same_state(net, ref_v)


def test_max_pool_gate_counts_carry_over(maxpool_cnn, digits):
    """After a blocked run the gate holds the counts of all T steps (as after stepping), so
    step() continues the run the same way."""
    x = digits[0][:2]
    ref, _ = reference(maxpool_cnn, repeat(x, T + 5))
    blocked(maxpool_cnn, x, 7, encoding="analog")
    (key,) = maxpool_cnn.run_state.pool_counts
    spikes0 = maxpool_cnn.recording.spike_trains[0].float().sum(0)
    assert torch.equal(maxpool_cnn.run_state.pool_counts[key].reshape(2, -1),
                       spikes0.reshape(2, -1))
    for _ in range(5):
        maxpool_cnn.step(x)
    assert_same(maxpool_cnn.recording, ref)


def test_run_then_step_continues_in_blocks(cnn, digits):
    x = digits[0][:2]
    ref, _ = reference(cnn, repeat(x, T + 5))
    for k in BLOCKS:
        blocked(cnn, x, k)
        for _ in range(5):
            cnn.step(x)
        assert_same(cnn.recording, ref)


@pytest.mark.parametrize("k", BLOCKS)
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_threshold_is_inclusive_in_blocks(k, reset):
    rec = blocked(inclusive_threshold_net(reset), torch.ones(1, 1), k)
    assert rec.spike_counts[0].tolist() == [[10, 20]]
    assert rec.spike_counts[1].tolist() == [[5, 10]]


def test_block_size_fits_the_budget_and_has_no_cliff(cnn):
    """k * B * widest <= BLOCK_ELEMENTS (at least one step, at most T), and every size runs
    layer by layer: no fall-back to stepping above some number of neuron-steps."""
    w = layerwise.widest(cnn)
    assert w >= max(cnn.n_neurons)
    for steps, batch in ((1, 1), (100, 1), (100, 256), (10_000, 4096), (100, 10**7)):
        k = layerwise.block_size(cnn, steps, batch)
        assert 1 <= k <= steps
        assert k == 1 or k * batch * w <= layerwise.BLOCK_ELEMENTS
        assert layerwise.applicable(cnn, steps, batch)
    assert layerwise.block_size(cnn, 100, 1) == 100  # a small run is one block


# ----------------------------------------------------------------------------- graphs
class Residual(nn.Module):
    """conv-relu, conv-relu, add with the shortcut, relu, pool, linear; ``down``: the second
    convolution has stride 2 and the shortcut is max-pooled (a spiking gate in a branch)."""

    def __init__(self, pool: nn.Module, down: bool = False) -> None:
        super().__init__()
        self.down = down
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 4, 3, stride=2 if down else 1, padding=1)
        self.pool = pool
        self.fc = nn.Linear(4 * 4 * 4, 10)  # 4x4 maps: pooled, or by the stride

    def forward(self, x):
        a = F.relu(self.c1(x))
        b = F.relu(self.c2(a))
        c = F.relu(self.c3(b) + (F.max_pool2d(a, 2) if self.down else a))
        return self.fc(torch.flatten(self.pool(c), 1))


class Concat(nn.Module):
    """conv-relu, two conv-relu branches, concatenated with the first, pool, linear."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 2, 1)
        self.pool = pool
        self.fc = nn.Linear(10 * 16, 10)

    def forward(self, x):
        a = F.relu(self.c1(x))
        h = torch.cat([F.relu(self.c2(a)), F.relu(self.c3(a)), a], 1)
        return self.fc(torch.flatten(self.pool(h), 1))


GRAPHS = {
    "residual-avg": lambda: Residual(nn.AvgPool2d(2)),
    "residual-max": lambda: Residual(nn.MaxPool2d(2)),
    "residual-down": lambda: Residual(nn.Identity(), down=True),
    "concat-avg": lambda: Concat(nn.AvgPool2d(2)),
    "concat-max": lambda: Concat(nn.MaxPool2d(2)),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_graphs_in_blocks(digits, name, encoding):
    torch.manual_seed(4)
    net = ss.convert(GRAPHS[name]().eval(), digits[0][:200], clamp_delay=1)
    assert not net.is_chain and layerwise.applicable(net)
    net.params = NeuronParams(refractory=1)
    x = digits[0][:3] * 1.5
    inputs = ss.encoding.encode(x, T, encoding, max_rate_hz=600, seed=5)
    ref, ref_v = reference(net, inputs)
    assert int(ref.spike_counts[-1].sum()) > 0, "a test that no spike reaches says nothing"
    for k in BLOCKS:
        assert_same(blocked(net, x, k, encoding=encoding, max_rate_hz=600, seed=5), ref)
        assert same_state(net, ref_v)


# ----------------------------------------------------------------------------- random nets
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), pool=st.sampled_from(["none", "avg2", "max"]),
       threshold=st.floats(0.3, 2.0), leak=st.sampled_from([1.0, 0.95]),
       reset=st.sampled_from(["subtract", "zero"]), refractory=st.integers(0, 2),
       clamp=st.integers(0, 2), batch=st.integers(1, 5), steps=st.integers(1, 30),
       block=st.integers(1, 31), gain=st.floats(0.2, 4.0),
       encoding=st.sampled_from(["analog", "poisson"]), graph=st.booleans())
def test_random_nets_in_random_blocks(seed, pool, threshold, leak, reset, refractory, clamp,
                                      batch, steps, block, gain, encoding, graph):
    torch.manual_seed(seed)
    p = {"none": nn.Identity(), "avg2": nn.AvgPool2d(2), "max": nn.MaxPool2d(2)}[pool]
    if graph:  # the graphs' linear layer reads 4x4 maps: pooled
        p = nn.AvgPool2d(2) if pool == "none" else p
        model = Residual(p) if seed % 2 else Concat(p)
    else:
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), p, nn.Flatten(),
                              nn.Linear(3 * (4 if pool != "none" else 8) ** 2, 7), nn.ReLU(),
                              nn.Linear(7, 3))
    net = ss.convert(model.eval(), torch.rand(16, 1, 8, 8), clamp_delay=clamp)
    net.params = NeuronParams(threshold=threshold, leak=leak, reset=reset,
                              refractory=refractory)
    x = torch.rand(batch, 1, 8, 8) * gain
    inputs = ss.encoding.encode(x, steps, encoding, max_rate_hz=700, seed=seed)
    rec = blocked(net, x, block, steps, encoding=encoding, max_rate_hz=700, seed=seed)
    assert_same(rec, reference(net, inputs)[0])


@pytest.mark.parametrize("side", [8, 16])
def test_average_pool_on_small_and_large_maps(side):
    """Small maps are pooled with the pooling matrix and larger ones (above
    stages.POOL_MATRIX_MAX) with the pool itself: the same window sums as stepping."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1),
                          nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(3 * (side // 2) ** 2, 10)).eval()
    assert (side * side > stages.POOL_MATRIX_MAX) == (side == 16)
    x = torch.rand(3, 1, side, side) * 2
    net = ss.convert(model, x)
    ref, _ = reference(net, repeat(x))
    assert int(ref.spike_counts[-1].sum()) > 0
    for k in BLOCKS:
        assert_same(blocked(net, x, k), ref)
