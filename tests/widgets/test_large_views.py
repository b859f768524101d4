"""Issue 24, the view side, server-side: membrane replay (the core proof), clicking a neuron
without re-running, and the Activity tab at research scale (the 100,618-neuron VGG of
tests/large_network.py): aggregated above a few thousand points, per-update PATCH-DOC bytes
bounded, no work while hidden."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import spikescope as ss
from spikescope import datasets, zoo
from spikescope.codes.encoders import encode
from spikescope.neurons import NeuronParams
from spikescope.sim.network import SpikingNetwork
from spikescope.sim.replay import replay_layer, replay_membrane, replayable
from widgets import activity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graph_models import Inception, ResNet, randomize_bn  # noqa: E402

T = 30


def assert_replays(net, x, encoding="analog", steps=T):
    """Every layer's replayed membrane (all neurons) equals the recorded one bit for bit, and
    the replayed neurons spike exactly where the run recorded spikes."""
    rec = net.run(x, steps, encoding=encoding)
    inputs = encode(net.check_input(x, time_major=encoding == "events"), steps, encoding,
                    dt_ms=net.dt_ms)
    for l, n in enumerate(net.n_neurons):
        v, fired = replay_layer(net, rec, inputs, l, range(n))
        assert torch.equal(v, rec.membrane[l]), (
            f"layer {l} ({net.layer_names[l]}): replayed membrane differs from the recorded "
            f"one by up to {(v - rec.membrane[l]).abs().max():.3g}")
        assert torch.equal(fired, rec.spike_trains[l]), (
            f"layer {l}: the replayed membrane crosses threshold at other steps than the "
            f"recorded spikes")
    return rec, inputs


@pytest.mark.parametrize("options", [{}, {"reset": "zero"}, {"clamp_delay": 3},
                                     {"neuron": "lif", "leak": 0.9},
                                     {"readout": "membrane"}],
                         ids=["subtract", "zero", "clamp3", "lif", "membrane-readout"])
def test_replayed_membrane_equals_the_recorded_one(digits, digits_cnn, options):
    net = ss.convert(digits_cnn, digits[0][:200], **options)
    assert_replays(net, digits[2][:2])


@pytest.mark.parametrize("model", [ResNet, Inception], ids=["residual", "concatenation"])
def test_replay_of_graph_models(model):
    torch.manual_seed(0)
    m = randomize_bn(model(cin=3)).eval()
    net = ss.convert(m, torch.rand(32, 3, 16, 16))
    assert not net.is_chain
    assert_replays(net, torch.rand(2, 3, 16, 16), steps=20)


def test_replay_of_a_directly_trained_network_on_events():
    trained = zoo.load_network("events-classifier")
    leaks = [1.0, 0.95, 0.9, 0.85][:len(trained.stages)]  # learned leaks: one per layer
    net = SpikingNetwork(trained.stages, trained.lambdas, trained.params, code="direct",
                         layer_params=[NeuronParams(leak=v) for v in leaks],
                         input_shape=trained.input_shape)
    assert replayable(net)
    x, _ = datasets.load("digits-events", "test")
    frames = x[:2].transpose(0, 1)  # (T, B, ...)
    assert_replays(net, frames, encoding="events", steps=len(frames))


def test_some_neurons_and_what_cannot_be_replayed(digits, digits_cnn):
    net = ss.convert(digits_cnn, digits[0][:200])
    x = digits[2][:1]
    rec, inputs = assert_replays(net, x)
    v = replay_membrane(net, rec, inputs, 1, [7, 3])
    assert torch.equal(v, rec.membrane[1][:, :, [7, 3]])
    with pytest.raises(ValueError, match="out of range for layer 1"):
        replay_membrane(net, rec, inputs, 1, [10**6])
    with pytest.raises(ValueError, match="layer must be an index"):
        replay_membrane(net, rec, inputs, 9, [0])
    ttfs = ss.convert(digits_cnn, digits[0][:200], code="ttfs")
    assert not replayable(ttfs)
    with pytest.raises(ValueError, match="cannot be replayed"):
        replay_membrane(ttfs, rec, inputs, 0, [0])


@pytest.fixture
def limited(monkeypatch):
    """Sessions that record only some membranes (the limit a 100k network hits)."""
    from widgets import session as session_mod

    monkeypatch.setattr(session_mod, "MAX_MEMBRANE_CELLS", 10_000)
    runs = []
    run = SpikingNetwork.run
    monkeypatch.setattr(SpikingNetwork, "run", lambda self, *a, **k: runs.append(1) or
                        run(self, *a, **k))
    return runs


def test_a_click_traces_a_neuron_without_running_again(limited):
    from widgets.session import Session

    s = Session(model="digits-cnn", timesteps=60)
    kept = set(s.recording.membrane_neurons[0].tolist())
    neuron = next(i for i in range(s.net.n_neurons[0]) if i not in kept)
    del limited[:]
    s.add_trace(0, neuron)
    assert limited == [], "adding a trace re-ran the simulation"
    assert s.traces[-1] == (0, neuron)
    again = s.net.run(s.x, s.timesteps, encoding=s.encoding, neurons={0: [neuron]})
    assert torch.equal(torch.as_tensor(s.membrane_of(0, neuron)), again.membrane[0][:, 0, 0])
    from widgets.membrane import trace_data

    paths, _ = trace_data(s, s.timesteps)
    assert f"#{neuron}" in paths[-1]["neuron"], "the membrane view does not draw the trace"


def test_codes_that_cannot_replay_run_again(limited):
    from widgets.session import Session

    s = Session(model="digits-cnn", timesteps=60, code="ttfs")
    kept = set(s.recording.membrane_neurons[0].tolist())
    neuron = next(i for i in range(s.net.n_neurons[0]) if i not in kept)
    del limited[:]
    s.add_trace(0, neuron)
    assert len(limited) == 1 and s.membrane_of(0, neuron) is not None


# ---------------------------------------------------------------- the 100k network's views
@pytest.fixture(scope="module")
def vgg():
    """A session on the 100,618-neuron VGG, uploaded as ONNX (about 20 s)."""
    from large_network import NEURONS, onnx_bytes, trained_vgg28

    from widgets.session import Session

    torch.set_num_threads(1)
    s = Session()
    s.load_upload(onnx_bytes(trained_vgg28()), "vgg28.onnx")
    assert sum(s.net.n_neurons) == NEURONS and not s.error
    return s


def activity_on_a_page(s):
    """The Activity tab open in a served-like document, and a PATCH-DOC byte counter."""
    import panel as pn
    from bokeh.document import Document

    from widgets.dashboard import Dashboard

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from activity_scale import Patches

    dash = Dashboard(s)
    dash.tabs.active = 1
    doc = Document()
    doc.add_root(pn.panel(dash).get_root(doc))
    return dash, Patches(doc)


def test_activity_updates_are_bounded_at_100k_neurons(vgg):
    dash, patches = activity_on_a_page(vgg)
    view = dash.activity
    assert view.aggregated and not view._dots.visible and view._image.visible
    for t in (5, 40, vgg.timesteps):
        vgg.t = t
        patches.flush()
        neurons = view.hist.data["neurons"][0]
        assert neurons.shape == activity.SCATTER_BINS[::-1], "histogram size grew with N"
        assert neurons.sum() == sum(vgg.net.n_neurons), "a neuron is missing in the histogram"
        rate = torch.cat([tr[:t, 0].sum(0) for tr in vgg.recording.spike_trains]).double() / t
        want = (rate * activity.SCATTER_BINS[1] / activity.RATE_TOP).long().clamp(
            max=activity.SCATTER_BINS[1] - 1)
        assert (neurons.sum(1) == torch.bincount(want, minlength=neurons.shape[0]).numpy()).all()
    vgg.percentile = 99.0
    patches.flush()
    assert not vgg.error
    assert max(patches.bytes) <= 200_000, (
        f"an Activity-tab update sent {max(patches.bytes) / 1e3:.0f} kB (budget 200 kB)")
    vgg.percentile = 99.9


def test_small_networks_keep_a_dot_per_neuron():
    from widgets.session import Session

    s = Session(model="digits-cnn", timesteps=40)
    assert sum(s.net.n_neurons) <= activity.SCATTER_POINTS
    dash, patches = activity_on_a_page(s)
    view = dash.activity
    s.t = 30
    assert not view.aggregated and view._dots.visible and not view._image.visible
    ann = torch.cat([a for a in s.ann_rates]).numpy()
    rate = torch.cat([tr[:30, 0].sum(0) for tr in s.recording.spike_trains]).numpy() / 30
    assert (view.points.data["x"] == ann).all() and (view.points.data["y"] == rate).all()


def test_a_hidden_activity_tab_does_no_work_and_catches_up(vgg):
    dash, patches = activity_on_a_page(vgg)
    view = dash.activity
    calls = []
    view._frame_fns.append(lambda changed: calls.append(changed))
    view.on_screen = False
    for t in range(1, 11):
        vgg.t = t
    vgg.percentile = 99.0
    assert calls == [], "the hidden Activity tab recomputed its views"
    view.on_screen = True
    assert calls == [{"t", "version"}], "shown again: one catch-up update"
    assert view.hist.data["neurons"][0].sum() == sum(vgg.net.n_neurons)
    vgg.percentile = 99.9


def test_a_click_on_the_100k_raster_adds_a_trace_without_running(vgg, monkeypatch):
    from widgets.raster import RasterView

    raster = RasterView(vgg)
    runs = []
    monkeypatch.setattr(SpikingNetwork, "run", lambda *a, **k: runs.append(1))
    monkeypatch.setattr(type(vgg), "recompute", lambda self: runs.append(1))
    missing = next(i for i in range(vgg.net.n_neurons[0]) if vgg.membrane_of(0, i) is None)
    raster._on_tap(0, vgg.net.n_neurons[0], x=3.0, y=float(missing))
    assert runs == [], "a click re-ran the simulation"
    assert vgg.traces[-1] == (0, missing)
    monkeypatch.undo()
    again = vgg.net.run(vgg.x, vgg.timesteps, neurons={0: [missing]})
    assert torch.equal(torch.as_tensor(vgg.membrane_of(0, missing)), again.membrane[0][:, 0, 0])


def test_zooming_into_a_dense_raster_shows_single_neurons(vgg):
    from widgets.raster import MAX_ROWS, RasterView

    raster = RasterView(vgg)
    conv1 = raster.layers[0]
    assert conv1.dense and conv1.spikes.block > 1, "conv1 is drawn in blocks at full view"
    vgg.t = vgg.timesteps
    conv1.zoom(1000.0, 1100.0)
    lo, hi = conv1.rows
    assert lo <= 1000 and hi > 1100 and hi - lo <= MAX_ROWS + 2
    img = conv1.source.data["image"][0]
    want = vgg.recording.spike_trains[0][:, 0, lo:hi].T.float().numpy()
    assert (img == want).all(), "zoomed in, each row is one neuron's spikes"
    assert conv1.source.data["y"][0] == lo - 0.5 and conv1.source.data["dh"][0] == hi - lo
    vgg.t = 10  # the cursor still patches the zoomed image
    assert np.isnan(conv1.source.data["image"][0][:, 10:]).all()
    conv1.zoom(0.0, float(conv1.n))
    assert conv1.rows is None and conv1.source.data["image"][0].shape[0] <= MAX_ROWS
