"""The NIR boundary's conventions (spikescope.io.nir_conventions), without the peer tools."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikescope as ss
import spikescope.io as sio
from spikescope.io.nir_conventions import NIRSemanticsWarning


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 4)).eval()
    return model, torch.rand(16, 8)


def _graph(neuron, w=None) -> nir.NIRGraph:
    w = np.full((3, 4), 0.25, np.float32) if w is None else w
    nodes = {"in": nir.Input(input_type=np.array([w.shape[1]])),
             "fc": nir.Affine(weight=w, bias=np.zeros(w.shape[0], np.float32)), "lif": neuron,
             "out": nir.Output(output_type=np.array([w.shape[0]]))}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")])


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRSemanticsWarning)
        return fn(*a, **kw)


@pytest.mark.parametrize("if_r,r", [("nir", 1 / 0.5e-3), ("unit", 1.0)])
def test_if_export_follows_nir_or_the_unit_convention_and_round_trips(if_r, r, data, tmp_path):
    model, x = data
    net = ss.convert(model, x, reset="zero", dt_ms=0.5)
    _quiet(sio.save_nir, net, tmp_path / "n.nir", if_r=if_r)
    g = nir.read(str(tmp_path / "n.nir"))
    np.testing.assert_allclose(g.nodes["fc1_neurons"].r, r, rtol=1e-6)
    back = sio.load_nir(tmp_path / "n.nir")
    assert back.params == net.params and back.dt_ms == 0.5
    assert torch.equal(back.run(x, 15).spike_trains[-1], net.run(x, 15).spike_trains[-1])


def test_if_r_of_one_without_dt_is_not_taken_silently():
    g = _graph(nir.IF(r=np.ones(3), v_threshold=np.ones(3)))
    with pytest.warns(NIRSemanticsWarning, match=r"'lif' \(IF\).*gain of 0.001.*if_r='unit'"):
        net = sio.from_nir(g)
    assert float(net.stages[0].weight[0, 0]) == pytest.approx(0.25e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unit = sio.from_nir(g, if_r="unit")
    assert float(unit.stages[0].weight[0, 0]) == pytest.approx(0.25)


def test_dt_not_below_tau_is_refused_naming_the_node_and_the_fix():
    g = _graph(nir.LIF(tau=np.full(3, 2e-4), r=np.full(3, 2.0), v_leak=np.zeros(3),
                       v_threshold=np.ones(3)))
    with pytest.raises(ss.ConversionError, match=r"'lif' \(LIF\): tau = 0.0002 s.*dt = 1 ms"
                       r".*leak = 1 - dt/tau = -4.*dt_ms"):
        sio.from_nir(g, dt_ms=1.0)


def test_snntorch_style_lif_without_dt_gets_its_step_and_says_so():
    # snnTorch writes beta = 0.95 as tau = 1e-4 / (1 - beta), r = tau / 1e-4 (unit gain)
    tau = 1e-4 / 0.05
    g = _graph(nir.LIF(tau=np.full(3, tau), r=np.full(3, tau / 1e-4), v_leak=np.zeros(3),
                       v_threshold=np.ones(3), v_reset=np.zeros(3)))
    with pytest.warns(NIRSemanticsWarning, match="dt = 0.1 ms"):
        net = sio.from_nir(g)
    assert net.dt_ms == pytest.approx(0.1) and net.params.leak == pytest.approx(0.95)
    assert float(net.stages[0].weight[0, 0]) == pytest.approx(0.25)


def test_subtract_reset_is_made_visible_and_zero_reset_offered(data):
    model, x = data
    net = ss.convert(model, x)  # reset by subtraction
    with pytest.warns(NIRSemanticsWarning, match="reset by subtraction.*reset='zero'"):
        sio.to_nir(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = sio.to_nir(net, reset="zero")
    assert sio.from_nir(g).params.reset == "zero"
    with pytest.raises(ValueError, match="reset must be"):
        sio.to_nir(net, reset="half")


def test_threshold_is_written_for_nirs_strict_test():
    # NIR fires at v > t, spikescope at v >= t: the file holds the float32 just below t,
    # and a foreign file's t becomes the float32 just above
    g = _graph(nir.IF(r=np.ones(3), v_threshold=np.ones(3)))
    net = _quiet(sio.from_nir, g, if_r="unit")
    assert net.params.threshold == float(np.nextafter(np.float32(1), np.float32(2)))
    x = torch.ones(1, 4)  # v = 1.0 after one step: NIR does not fire, neither may we
    assert int(net.run(x, 1).spike_trains[-1].sum()) == 0
    assert int(net.run(x, 2).spike_trains[-1].sum()) == 3


def test_files_written_before_if_r_still_read_as_written(data):
    model, x = data
    net = ss.convert(model, x, reset="zero")
    g = _quiet(sio.to_nir, net, if_r="unit")
    del g.metadata["if_r"]  # an older spikescope file: IF r = 1, dt in metadata
    back = sio.from_nir(g)
    assert torch.equal(back.run(x, 10).spike_trains[-1], net.run(x, 10).spike_trains[-1])


def test_lif_unit_r_is_the_same_network(data):
    model, x = data
    net = ss.convert(model, x, reset="zero", leak=0.8, neuron="lif")
    g = sio.to_nir(net, lif_r="unit")
    assert np.all(g.nodes["fc1_neurons"].r == 1)
    np.testing.assert_allclose(g.nodes["fc1"].weight, net.stages[0].weight.numpy() / 0.2,
                               rtol=1e-5)
    back = sio.from_nir(g)
    assert back.params.leak == net.params.leak
    assert torch.equal(back.run(x, 15).spike_trains[-1], net.run(x, 15).spike_trains[-1])
    with pytest.raises(ValueError, match="lif_r"):
        sio.to_nir(net, lif_r="one")
