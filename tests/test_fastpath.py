"""The fast path of SpikingNetwork.run equals the per-step reference bit for bit."""

import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope import fastpath
from spikescope.encoding import encode
from spikescope.network import SpikingNetwork
from spikescope.neurons import NeuronParams

T = 25


def reference(net, x, timesteps, monkeypatch, **kw):
    """run() through the per-step path (fast path switched off)."""
    with monkeypatch.context() as m:
        m.setattr(fastpath, "enabled", False)
        return net.run(x, timesteps, **kw)


def assert_same(fast, ref):
    for name in ("output_counts", "output_potential", "layer_spikes", "layer_ops",
                 "synaptic_ops"):
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.dtype == b.dtype and torch.equal(a, b), f"{name} differs from the reference"
    for l, (a, b) in enumerate(zip(fast.spike_counts, ref.spike_counts)):
        assert torch.equal(a, b), f"spike counts of layer {l} differ from the reference"
    assert (fast.spike_trains is None) == (ref.spike_trains is None)
    if ref.spike_trains is not None:
        for l, (a, b) in enumerate(zip(fast.spike_trains, ref.spike_trains)):
            assert torch.equal(a, b), f"spike train of layer {l} differs from the reference"
    assert (fast.membrane is None) == (ref.membrane is None)
    if ref.membrane is not None:
        for l, (a, b) in enumerate(zip(fast.membrane, ref.membrane)):
            assert torch.equal(a, b), f"membrane of layer {l} differs from the reference"


@pytest.fixture(scope="module")
def cnn_net(digits, digits_cnn):
    return ss.convert(digits_cnn, digits[0][:300])


@pytest.fixture(scope="module")
def pool_net(digits):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32, 10)).eval()
    return ss.convert(model, digits[0][:200])


def test_fast_path_is_used_only_for_the_plain_rate_network(cnn_net):
    assert fastpath.applies(cnn_net)

    class Custom(SpikingNetwork):
        def _neuron_step(self, l, current):
            return super()._neuron_step(l, current)

    other = Custom(cnn_net.stages, cnn_net.lambdas, cnn_net.params,
                   input_shape=cnn_net.input_shape)
    assert not fastpath.applies(other)


@pytest.mark.parametrize("params", [
    {},                                     # IF, subtract: the common case
    {"leak": 0.9},                          # LIF
    {"reset": "zero"},                      # hard reset
    {"graded": True, "threshold": 0.5},     # graded spikes (several per step)
    {"refractory": 2},                      # refractory period
    {"leak": 0.95, "reset": "zero", "refractory": 1},
])
def test_cnn_equals_reference(cnn_net, digits, monkeypatch, params):
    net = SpikingNetwork(cnn_net.stages, cnn_net.lambdas, NeuronParams(**params),
                         input_shape=cnn_net.input_shape)
    x = digits[2][:4] * 2.5  # saturating: per-step inputs above threshold
    kw = {"neurons": {0: [3, 100], 2: list(range(64))}}
    assert_same(net.run(x, T, **kw), reference(net, x, T, monkeypatch, **kw))


@pytest.mark.parametrize("batch", [1, 5])
def test_clamp_and_membrane_readout_equal_reference(cnn_net, digits, monkeypatch, batch):
    for readout in ("spikes", "membrane"):
        net = SpikingNetwork(cnn_net.stages, cnn_net.lambdas, cnn_net.params,
                             input_shape=cnn_net.input_shape, clamp_delay=3, readout=readout)
        x = digits[2][:batch]
        assert_same(net.run(x, T), reference(net, x, T, monkeypatch))


def test_record_nothing_equals_reference(cnn_net, digits, monkeypatch):
    x = digits[2][:6]
    assert_same(cnn_net.run(x, T, record=()), reference(cnn_net, x, T, monkeypatch, record=()))


def test_spiking_maxpool_equals_reference(pool_net, digits, monkeypatch):
    x = digits[2][:6]
    assert_same(pool_net.run(x, T), reference(pool_net, x, T, monkeypatch))
    assert_same(pool_net.run(x, T, encoding="poisson", seed=2),
                reference(pool_net, x, T, monkeypatch, encoding="poisson", seed=2))


def test_poisson_and_events_equal_reference(cnn_net, digits, monkeypatch):
    x = digits[2][:4]
    assert_same(cnn_net.run(x, T, encoding="poisson", seed=5),
                reference(cnn_net, x, T, monkeypatch, encoding="poisson", seed=5))
    frames = encode(x, T, "poisson", seed=1) * 3.0  # event counts > 1 per pixel and step
    assert_same(cnn_net.run(frames, T, encoding="events"),
                reference(cnn_net, frames, T, monkeypatch, encoding="events"))


def test_mlp_batch_and_continue_with_step(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64),
                          nn.ReLU(), nn.Linear(64, 10)).eval()
    x = torch.rand(16, 1, 28, 28)
    net = ss.convert(model, x)
    for b in (1, 16):
        assert_same(net.run(x[:b], T), reference(net, x[:b], T, monkeypatch))
    # the state after a fast run() continues like the reference's
    net.run(x[:3], T)
    out_fast = [net.step(x[:3]) for _ in range(5)]
    reference(net, x[:3], T, monkeypatch)
    out_ref = [net.step(x[:3]) for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(out_fast, out_ref))
