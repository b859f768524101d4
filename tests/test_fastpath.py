"""The fast paths equal the reference bit for bit.

Reference: ``fused_kernels = False``, i.e. ``reset`` + ``step`` with plain torch operations
(:func:`spikescope.neurons.if_step`). Fast path: ``run`` layer by layer
(:mod:`spikescope.sim.layerwise`: per block of steps one product over its k*B rows per layer,
then the compiled recursion of :mod:`spikescope.neurons.numba_kernel`); block sizes 1, 7 and
T on chains and graphs: tests/test_blocked.py. Not timed: speed is in benchmarks/.
"""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import spikescope as ss
from spikescope import energy, exact, layerwise
from spikescope.neurons import NeuronParams

T = 40
FIELDS = ("output_counts", "output_potential", "layer_spikes", "layer_ops")


def reference(net, inputs, record=("spikes", "membrane")):
    """reset + step with plain torch operations; the recording and the final state."""
    net.fused_kernels = False
    try:
        net.reset(inputs.shape[1], record=record)
        for x_t in inputs:
            net.step(x_t)
        return net.recording, [s.v.clone() for s in net.state]
    finally:
        net.fused_kernels = True


def assert_same(a, b):
    for f in FIELDS:
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    for u, v in zip(a.spike_counts, b.spike_counts):
        assert torch.equal(u, v)
    for name in ("spike_trains", "membrane"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        for u, v in zip(x or [], y or []):
            assert torch.equal(u, v), name


def repeat(x, steps=T):
    return x.unsqueeze(0).expand(steps, *x.shape)


@pytest.fixture(scope="module")
def models(digits, digits_cnn):
    torch.manual_seed(0)
    pool_net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(96, 10)).eval()
    return {"digits-cnn": digits_cnn, "maxpool-cnn": pool_net}


CASES = list(itertools.product([1.0, 0.9], ["subtract", "zero"], [0, 2], [0, 3],
                               ["spikes", "membrane"]))


@pytest.mark.parametrize("leak,reset,refractory,clamp,readout", CASES)
def test_layerwise_run_equals_reference(models, digits, leak, reset, refractory, clamp,
                                        readout):
    """All neuron variants: the compiled recursion reproduces if_step's float32 arithmetic;
    x 2 drives some neurons above threshold every step (saturation: one spike per step and
    the rest carried in V)."""
    net = ss.convert(models["digits-cnn"], digits[0][:200], leak=leak, reset=reset,
                     clamp_delay=clamp, readout=readout)
    net.params = NeuronParams(leak=leak, reset=reset, refractory=refractory)
    x = digits[0][:3] * 2.0
    ref, ref_v = reference(net, repeat(x))
    assert layerwise.applicable(net, T, 3)
    assert_same(net.run(x, T), ref)
    assert all(torch.equal(s.v, v) for s, v in zip(net.state, ref_v))


def test_saturating_input_is_carried_over(digits, digits_cnn):
    """Input currents above threshold: several spikes' worth per step; still equal, and the
    first layer fires every step (rate 1) where the current exceeds the threshold."""
    net = ss.convert(digits_cnn, digits[0][:200])
    x = digits[0][:2] * 20.0
    ref, _ = reference(net, repeat(x))
    rec = net.run(x, T)
    assert_same(rec, ref)
    assert int(rec.spike_counts[0].max()) == T


@pytest.mark.parametrize("encoding", ["poisson", "events"])
def test_time_varying_input(models, digits, encoding):
    """Inputs that change every step (first-layer currents per step) and the spiking
    max-pool gate (running counts over all steps at once)."""
    x = digits[0][:4]
    for net in (ss.convert(m, digits[0][:200]) for m in models.values()):
        if encoding == "events":
            gen = torch.Generator().manual_seed(1)
            x_in = torch.poisson(repeat(x) * 0.7, generator=gen)  # event counts 0, 1, 2, ...
            inputs = x_in
        else:
            x_in = x
            inputs = ss.encoding.encode(x, T, "poisson", max_rate_hz=500, seed=3)
        ref, _ = reference(net, inputs)
        assert_same(net.run(x_in, T, encoding=encoding, max_rate_hz=500, seed=3), ref)


def test_graded_spikes_and_non_dyadic_pooling_step_instead(digits, digits_cnn):
    """Graded spikes (counts > 1) and a 3x3 average pool (k/9) leave the exact grid: run()
    steps the whole run instead, and still equals the reference."""
    graded = ss.convert(digits_cnn, digits[0][:200])
    graded.params = NeuronParams(graded=True)
    torch.manual_seed(1)
    pool9 = ss.convert(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                     nn.AvgPool2d(3, 1, 1), nn.Flatten(), nn.Linear(256, 10)
                                     ).eval(), digits[0][:200])
    assert pool9.simulated_stages[1] is pool9.stages[1]  # no grid: weights kept
    x = digits[0][:3] * 3.0
    for net in (graded, pool9):
        assert not layerwise.applicable(net, T, 3)
        ref, _ = reference(net, repeat(x))
        assert_same(net.run(x, T), ref)
    assert int(graded.run(x, T).spike_counts[0].max()) > T  # graded: more than one per step


def test_run_then_step_continues_like_stepping(digits, digits_cnn):
    net = ss.convert(digits_cnn, digits[0][:200])
    x = digits[0][:2]
    ref, _ = reference(net, repeat(x, T + 5))
    net.run(x, T)
    for _ in range(5):
        net.step(x)
    assert_same(net.recording, ref)


def test_batch_size_does_not_change_any_sample(monkeypatch, digits, digits_cnn):
    """Exact sums: a sample's spikes do not depend on which batch it ran in, on either path
    (layer by layer, in blocks of steps that shrink as the batch grows, and stepping)."""
    net = ss.convert(digits_cnn, digits[0][:200])
    monkeypatch.setattr(layerwise, "BLOCK_ELEMENTS", 60 * layerwise.widest(net) * 7)
    assert layerwise.block_size(net, T, 60) == 7 and layerwise.block_size(net, T, 1) == T
    x = digits[0][:60]
    layered = net.run(x, T, record=("spikes",))
    net.fused_kernels = False
    try:
        stepped = net.run(x[:8], T, record=("spikes",))
    finally:
        net.fused_kernels = True
    for i in (0, 5, 7):
        alone = net.run(x[i:i + 1], T, record=("spikes",))
        for rec in (layered, stepped):
            assert torch.equal(alone.output_counts[:, 0], rec.output_counts[:, i])
            for a, b in zip(alone.spike_trains, rec.spike_trains):
                assert torch.equal(a[:, 0], b[:, i])


def test_other_codes_and_devices_are_not_run_layerwise(digits, digits_cnn):
    ttfs = ss.convert(digits_cnn, digits[0][:200], code="ttfs")
    assert not layerwise.applicable(ttfs, T, 1)
    net = ss.convert(digits_cnn, digits[0][:200])
    net.fused_kernels = False
    assert not layerwise.applicable(net, T, 1)


# ----------------------------------------------------------------------------- exact sums
def test_grid_weights_make_every_sum_exact():
    """Snapped weights: one product over T*B rows equals T products of B rows and B products
    of one row, bit for bit, for linear and conv layers, after a 2x2 average pool too; the
    unsnapped weights do not (that is what the grid is for)."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3),
                          nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(288, 300),
                          nn.ReLU(), nn.Linear(300, 10)).eval()
    net = ss.convert(model, torch.rand(64, 3, 8, 8))
    differs = 0
    for l, (orig, sim) in enumerate(zip(net.stages[1:], net.simulated_stages[1:]), 1):
        g, q = net.grids[l], exact.input_bits(sim)
        assert (sim.weight - orig.weight).abs().max() <= 2.0 ** -(g - q + 1)
        spikes = (torch.rand(20, 7, *orig.in_shape) < 0.4).float()
        for stage, exact_ in ((sim, True), (orig, False)):
            h = spikes.flatten(0, 1)
            for op in stage.pre:
                h = op(h)
            h = h.unflatten(0, (20, 7))
            all_t = stage.synapse(h.flatten(0, 1)).unflatten(0, (20, 7))
            per_step = torch.stack([stage.synapse(h_t) for h_t in h])
            per_row = torch.stack([torch.cat([stage.synapse(h_t[i:i + 1]) for i in range(7)])
                                   for h_t in h])
            same = torch.equal(all_t, per_step) and torch.equal(per_step, per_row)
            if exact_:
                assert same, stage.name
            else:
                differs += not same
    assert differs  # float32 sums of unsnapped weights do depend on the batching


def test_grid_bounds_every_partial_sum():
    torch.manual_seed(3)
    net = ss.convert(nn.Sequential(nn.Linear(20, 50), nn.ReLU(), nn.Linear(50, 5)).eval(),
                     torch.rand(100, 20))
    s, g = net.simulated_stages[1], net.grids[1]
    w = s.weight.double()
    # every partial sum is a multiple of 2^-g below 2^(23-g+1): at most 24 bits, exact
    worst = torch.maximum(w.clamp(min=0).sum(1), (-w).clamp(min=0).sum(1)) + s.bias.abs()
    assert float(worst.max()) < 2.0 ** (exact.SUM_BITS - g + 1)
    assert torch.equal(torch.round(w * 2.0 ** g), w * 2.0 ** g)
    assert exact.input_bits(ss.layers.Stage("x", "linear", w, s.bias,
                                            pre=[nn.AvgPool2d(3)])) is None


def inclusive_threshold_net(reset: str):
    """Currents 1/4 and 1/2 into layer 1; layer 2 gets 1/2 per spike of its input."""
    fc1, fc2 = nn.Linear(1, 2), nn.Linear(2, 2)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[0.25], [0.5]]))
        fc2.weight.copy_(torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
        fc1.bias.zero_()
        fc2.bias.zero_()
    return ss.convert(nn.Sequential(fc1, nn.ReLU(), fc2).eval(), torch.ones(4, 1),
                      percentile=None, reset=reset)


@pytest.mark.parametrize("path", ["layerwise", "reference"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_threshold_is_inclusive_on_every_path(path, reset):
    """V reaching the threshold exactly fires (V >= threshold): currents 1/4 and 1/2 fire
    floor(z T) times; layer 2 gets 1/2 per input spike and fires on every second one."""
    net = inclusive_threshold_net(reset)
    x = torch.ones(1, 1)
    if path == "layerwise":
        assert layerwise.applicable(net, T, 1)
        rec = net.run(x, T)
    else:
        rec, _ = reference(net, repeat(x))
    assert rec.spike_counts[0].tolist() == [[10, 20]]
    assert rec.spike_counts[1].tolist() == [[5, 10]]


def test_setting_stages_sets_what_is_simulated(digits, digits_cnn):
    """Replacing ``stages`` (as energy.quantize_weights does on a copy) rebuilds the simulated
    weights: the quantized network runs its quantized weights."""
    net = ss.convert(digits_cnn, digits[0][:200])
    qnet, _ = energy.quantize_weights(net, weight_bits=3)
    for q, s in zip(qnet.simulated_stages[1:], qnet.stages[1:]):
        assert (q.weight - s.weight).abs().max() < 1e-5
    assert not torch.equal(qnet.simulated_stages[1].weight, net.simulated_stages[1].weight)
    x = digits[0][:20]
    assert not torch.equal(qnet.run(x, T).output_counts, net.run(x, T).output_counts)


# ----------------------------------------------------------------------------- random nets
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), pool=st.sampled_from(["none", "avg2", "avg4", "max"]),
       threshold=st.floats(0.3, 2.0), leak=st.sampled_from([1.0, 0.95]),
       reset=st.sampled_from(["subtract", "zero"]), refractory=st.integers(0, 2),
       clamp=st.integers(0, 2), batch=st.integers(1, 5), steps=st.integers(1, 30),
       gain=st.floats(0.2, 4.0), encoding=st.sampled_from(["analog", "poisson"]))
def test_random_nets_run_equals_reference(seed, pool, threshold, leak, reset, refractory, clamp,
                                          batch, steps, gain, encoding):
    """Random conv/linear nets, pooling, neuron parameters, thresholds and inputs: run()
    (layer by layer) equals stepping with plain torch operations, bit for bit."""
    torch.manual_seed(seed)
    pools = {"none": [], "avg2": [nn.AvgPool2d(2)], "avg4": [nn.AvgPool2d(4)],
             "max": [nn.MaxPool2d(2)]}[pool]
    side = 8 if pool != "none" else 4
    c = int(torch.randint(2, 6, ()))
    model = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), *pools, nn.Flatten(),
                          nn.Linear(c * (side // (4 if pool == "avg4" else 2 if pools else 1))
                                    ** 2, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    net = ss.convert(model, torch.rand(16, 1, side, side), clamp_delay=clamp)
    net.params = NeuronParams(threshold=threshold, leak=leak, reset=reset,
                              refractory=refractory)
    x = torch.rand(batch, 1, side, side) * gain
    assert layerwise.applicable(net, steps, batch)
    rec = net.run(x, steps, encoding=encoding, max_rate_hz=700, seed=seed)
    inputs = ss.encoding.encode(x, steps, encoding, max_rate_hz=700, seed=seed)
    assert_same(rec, reference(net, inputs)[0])
