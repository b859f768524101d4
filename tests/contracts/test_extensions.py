"""Neuron models and spike codes written outside the package run through convert, run and
step (and the layer-by-layer path where it applies) without touching spikescope."""

from __future__ import annotations

import pytest
import torch

import spikescope as ss
from spikescope.neurons import IF, NeuronModel, NeuronState

FIELDS = ("output_counts", "output_potential", "layer_spikes", "layer_ops")


@ss.register_neuron("if-copy")
class IFCopy(IF):
    """The reference IF, under another name (its numba backend included)."""


@ss.register_neuron("if-stepped")
class SteppedIF(NeuronModel):
    """IF written from scratch with torch operations: no compiled backend, so the
    layer-by-layer path falls back to calling step() T times."""

    def step(self, state: NeuronState, current: torch.Tensor):
        v = state.v
        v.add_(current)
        spikes = (v >= self.params.threshold).to(v.dtype)
        v.sub_(spikes * self.params.threshold)
        return spikes, state


@ss.register_neuron("qif")
class QuadraticIF(NeuronModel):
    """Quadratic integrate-and-fire (dimensionless): V <- V + a V^2 + I, reset to zero."""

    def step(self, state: NeuronState, current: torch.Tensor):
        v = state.v
        v.add_(v * v * 0.5 + current)
        spikes = (v >= self.params.threshold).to(v.dtype)
        v.mul_(1 - spikes)
        return spikes, state


@ss.register_neuron("adaptive-if")
class AdaptiveIF(NeuronModel):
    """IF whose threshold rises by 0.5 after each spike and decays back (factor 0.9 per step):
    a genuinely new model with state beyond V (kept in ``refrac``'s place as a float)."""

    def init_state(self, shape, *, device=None, dtype=torch.float32):
        return NeuronState(torch.zeros(shape, device=device, dtype=dtype),
                           torch.zeros(shape, device=device, dtype=dtype))

    def step(self, state: NeuronState, current: torch.Tensor):
        v, extra = state
        v.add_(current)
        spikes = (v >= self.params.threshold + extra).to(v.dtype)
        v.sub_(spikes * self.params.threshold)
        extra.mul_(0.9).add_(0.5 * spikes)
        return spikes, state


@ss.register_code("burst")
class Burst(ss.Code):
    """Every spike of a hidden layer is a burst of two: the next layer sees 2 per spike."""

    def layer_current(self, run, l, h):
        return super().layer_current(run, l, 2 * h if l else h)


@ss.register_code("rate-first-spike")
class FirstSpikeReadout(ss.Code):
    """The rate code with another readout: the class is the first output neuron to spike."""

    def finish(self, run, recording):
        counts = recording.output_counts
        first = torch.cumsum((counts > 0).to(torch.int32), 0)  # steps since first spike
        recording.output_counts = (first * (counts > 0)).to(torch.int32)
        return recording


def _stepped(net, x, T):
    net.reset(len(x))
    for _ in range(T):
        net.step(x)
    return net.recording


def _equal(a, b):
    for f in FIELDS:
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    for u, v in zip(a.spike_trains, b.spike_trains):
        assert torch.equal(u, v)


@pytest.fixture(scope="module")
def digits():
    x, _ = ss.datasets.load("digits", "train")
    return ss.zoo.load("digits-cnn"), x[:200], x[200:216]


@pytest.mark.parametrize("neuron", ["if-copy", "if-stepped", "qif", "adaptive-if"])
def test_registered_neuron_runs_and_steps_alike(digits, neuron):
    model, cal, x = digits
    net = ss.convert(model, cal, neuron=neuron)
    assert type(net.neuron) is ss.NEURONS[neuron] and net.neuron.name == neuron
    rec = net.run(x, 30, record=("spikes",))
    assert int(rec.layer_spikes.sum()) > 0
    net.fused_kernels = False
    _equal(rec, net.run(x, 30, record=("spikes",)))
    _equal(rec, _stepped(net, x, 30))


def test_copy_of_if_equals_if_and_new_models_differ(digits):
    model, cal, x = digits
    recs = {n: ss.convert(model, cal, neuron=n).run(x, 30) for n in
            ("if", "if-copy", "if-stepped", "qif", "adaptive-if")}
    _equal(recs["if"], recs["if-copy"])
    _equal(recs["if"], recs["if-stepped"])
    assert not torch.equal(recs["if"].layer_spikes, recs["qif"].layer_spikes)
    assert int(recs["adaptive-if"].layer_spikes.sum()) < int(recs["if"].layer_spikes.sum())


def test_layerwise_fallback_steps_the_model(digits, monkeypatch):
    """A model without a backend still takes the layer-by-layer path, through its step()."""
    model, cal, x = digits
    calls = []
    orig = SteppedIF.step
    monkeypatch.setattr(SteppedIF, "step", lambda self, s, c: calls.append(c.shape) or
                        orig(self, s, c))
    net = ss.convert(model, cal, neuron="if-stepped")
    net.run(x, 5)
    assert calls and all(c[0] == len(x) for c in calls)  # whole batch, one step per call


@pytest.mark.parametrize("code", ["burst", "rate-first-spike"])
def test_registered_code_runs_through_convert(digits, code):
    model, cal, x = digits
    net = ss.convert(model, cal, code=code)
    assert net.code == code and isinstance(net.spike_code, ss.CODES[code])
    rec = net.run(x, 40, record=("spikes",))
    _equal(rec, _stepped(net, x, 40))
    base = ss.convert(model, cal).run(x, 40)
    if code == "burst":
        assert not net.spike_code.layerwise()  # its own per-step hook: it steps
        assert float(rec.synaptic_ops[-1]) != float(base.synaptic_ops[-1])
    else:
        assert net.spike_code.layerwise()  # only the readout differs: the fast path applies
        assert torch.equal(rec.layer_spikes, base.layer_spikes)
        assert not torch.equal(rec.output_counts, base.output_counts)


def test_code_rejects_unknown_options(digits):
    model, cal, _ = digits
    with pytest.raises(TypeError, match="code 'burst' takes no option"):
        ss.convert(model, cal, code="burst", stop_on_output=True)


def test_if_refuses_a_leak_and_lif_takes_it(digits):
    model, cal, x = digits
    with pytest.raises(ValueError, match="neuron='lif'"):
        ss.convert(model, cal, neuron="if", leak=0.9)
    assert ss.convert(model, cal, leak=0.9).neuron.name == "lif"
    assert ss.convert(model, cal, neuron="lif", leak=0.9).run(x, 10).timesteps == 10
