"""NIR interoperability checked by the other tools themselves (tests/requirements-interop.txt,
installed with --no-deps by `make install`; every peer imports here without torchvision).

spikescope -> NIR file -> peer and peer -> its own NIR export -> spikescope, same inputs,
output spikes compared per step (numbers printed with -s; the README table lists them).
Where NIR expresses the network exactly (reset to zero), agreement is asserted at 100%:
- Norse 1.1: IF (if_r="unit") and LIF (lif_r="unit": Norse ignores LIF r).
- SpikingJelly 2.0: IF and LIF as NIR defines them (IF r = 1/dt, same dt).
- snnTorch 1.0: LIF at its fixed dt = 0.1 ms. Its IF import is broken (Leaky(beta=0.9,
  init_hidden=False) returns a tuple the next layer cannot take) and its exporter fails NIR
  type inference for scalar beta: snnTorch bugs, asserted as such; its per-module export is
  used instead.
- nirtorch 2.6: maps no neuron itself and its default Affine map drops the bias (bug): runs
  with NIR's IF and a correct Affine written in the test.
- sinabs 3.1 reads IF as multi-spike with reset by subtraction and LIF tau in steps (its
  conventions): predictions agree, spikes do not exactly.
Reset by subtraction has no NIR field: with it, predictions agree and to_nir warns.
"""

from __future__ import annotations

import logging
import warnings

import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikescope as ss
import spikescope.io as sio
from spikescope.io.nir_conventions import NIRSemanticsWarning
from tests.interop.peer_helpers import NirIF, run_peer

T = 20
logging.disable(logging.WARNING)  # peers log every node they map


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    return model, torch.rand(64, 16)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    return {"steps": float((a == b).float().mean()),
            "counts": float((a.sum(0) == b.sum(0)).all(-1).float().mean()),
            "predictions": float((a.sum(0).argmax(-1) == b.sum(0).argmax(-1)).float().mean())}


def _export(net, **kw):
    """spikescope -> NIR file -> nir.read: what a peer gets."""
    import tempfile
    from pathlib import Path

    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as d:
        warnings.simplefilter("ignore", NIRSemanticsWarning)
        sio.save_nir(net, Path(d) / "net.nir", **kw)
        return nir.read(str(Path(d) / "net.nir"))


def _peers():
    import norse.torch as norse
    import sinabs.nir as sinabs_nir
    from spikingjelly.activation_based.nir_exchange import from_nir as sj

    return {"norse": lambda g, dt: norse.from_nir(g, dt=dt),
            "spikingjelly": lambda g, dt: sj.import_from_nir(g, dt=dt),
            "sinabs": lambda g, dt: sinabs_nir.from_nir(g, batch_size=64)}


@pytest.mark.parametrize("neuron", ["if", "lif"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("peer", ["norse", "spikingjelly", "sinabs"])
def test_spikescope_nir_runs_in_peer(peer, reset, neuron, data):
    model, x = data
    opts = {"leak": 0.9, "neuron": "lif"} if neuron == "lif" else {}
    net = ss.convert(model, x, reset=reset, **opts)
    ref = net.run(x, T).spike_trains[-1].float()
    # Norse and sinabs read IF r as a per-step gain of 1 (if_r="unit"); SpikingJelly follows
    # NIR (r = 1/dt) and needs the same dt
    g = _export(net, if_r="nir" if peer == "spikingjelly" else "unit")
    got = run_peer(_peers()[peer](g, net.dt_ms * 1e-3), x, T)
    a = _agreement(got, ref)
    print(f"spikescope {neuron} -> NIR -> {peer}, reset={reset}: {a}")
    assert a["predictions"] == 1.0
    # NIR expresses a reset-to-zero network exactly; Norse ignores LIF r (takes 1) and sinabs
    # reads IF as multi-spike + subtract and LIF tau in steps: their conventions, not NIR's
    exact = peer == "spikingjelly" or (peer == "norse" and neuron == "if")
    if exact and reset == "zero":
        assert a["steps"] == 1.0
    elif reset == "subtract" and peer != "sinabs":  # metadata-only semantics, made visible
        with pytest.warns(NIRSemanticsWarning, match="reset by subtraction"):
            sio.to_nir(net)


def test_snntorch_runs_lif_at_its_fixed_step_and_fails_on_if(data):
    import snntorch.import_nir as snn_nir

    model, x = data
    net = ss.convert(model, x, reset="zero")
    with pytest.raises(TypeError):  # snnTorch bug: its IF import returns (spk, mem)
        run_peer(snn_nir.import_from_nir(_export(net, if_r="unit")), x, T)
    lif = ss.convert(model, x, reset="zero", leak=0.95, neuron="lif", dt_ms=0.1)
    ref = lif.run(x, T).spike_trains[-1].float()
    got = run_peer(snn_nir.import_from_nir(_export(lif)), x, T)
    a = _agreement(got, ref)
    print(f"spikescope LIF (dt 0.1 ms) -> NIR -> snntorch: {a}")
    assert a["steps"] == 1.0


def test_spikingjelly_export_imports_with_its_dt(data):
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import to_nir as sj_to_nir

    model, x = data
    net = ss.convert(model, x, reset="zero")
    sj_net = nn.Sequential(nn.Linear(16, 32), neuron.IFNode(v_reset=0.0),
                           nn.Linear(32, 10), neuron.IFNode(v_reset=0.0))
    with torch.no_grad():
        for i, s in zip((0, 2), net.stages):
            sj_net[i].weight.copy_(s.weight)
            sj_net[i].bias.copy_(s.bias)
    functional.reset_net(sj_net)
    ref = torch.stack([sj_net(x).detach() for _ in range(T)])
    g = sj_to_nir.export_to_nir(sj_net, x, dt=1e-4)  # IF r = 1/dt = 1e4 (NIR)
    with pytest.warns(NIRSemanticsWarning, match="dt = 0.1 ms"):
        back = sio.from_nir(g)  # dt inferred from r = 1/dt, said out loud
    a = _agreement(back.run(x, T).spike_trains[-1].float(), ref)
    print(f"spikingjelly -> NIR -> spikescope: {a}")
    assert back.dt_ms == pytest.approx(0.1) and a["steps"] == 1.0
    with pytest.warns(NIRSemanticsWarning, match="if_r='unit'"):
        _warn_unknown_dt(g)


def _warn_unknown_dt(g):
    g.nodes = {k: (type(n)(r=np.ones_like(n.r), v_threshold=n.v_threshold,
                           v_reset=n.v_reset) if type(n).__name__ == "IF" else n)
               for k, n in g.nodes.items()}
    return sio.from_nir(g)  # IF r = 1 and no dt: gain 0.001 under NIR, warned


def test_snntorch_lif_export_imports_with_its_dt(data):
    import snntorch as snn
    from snntorch.export_nir import _extract_snntorch_module, export_to_nir

    model, x = data
    net = ss.convert(model, x, reset="zero", leak=0.5, neuron="lif")
    m = nn.Sequential(nn.Linear(16, 32), snn.Leaky(beta=0.5, init_hidden=True,
                                                   reset_mechanism="zero"),
                      nn.Linear(32, 10), snn.Leaky(beta=0.5, init_hidden=True,
                                                   reset_mechanism="zero"))
    with torch.no_grad():
        for i, s in zip((0, 2), net.stages):
            m[i].weight.copy_(s.weight)
            m[i].bias.copy_(s.bias)
    with pytest.raises(ValueError, match="Type inference"):  # snnTorch bug: scalar LIF shapes
        export_to_nir(m, x[0])
    # the same nodes from snnTorch's own per-module export, chained without its type check
    nodes = {"input": nir.Input(input_type=np.array([16]))}
    nodes |= {str(i): _extract_snntorch_module(mod) for i, mod in enumerate(m)}
    nodes["output"] = nir.Output(output_type=np.array([10]))
    order = list(nodes)
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])), type_check=False)
    with pytest.raises(ss.ConversionError, match="dt_ms"):  # beta 0.5: tau 0.2 ms < 1 ms
        sio.from_nir(g, dt_ms=1.0)
    with pytest.warns(NIRSemanticsWarning, match="dt = 0.1 ms"):
        back = sio.from_nir(g)
    assert back.params.leak == pytest.approx(0.5)
    ref = net.run(x, T).spike_trains[-1].float()
    a = _agreement(back.run(x, T).spike_trains[-1].float(), ref)
    print(f"snntorch LIF (beta 0.5) -> NIR -> spikescope: {a}")
    assert a["steps"] == 1.0


def test_norse_export_imports_with_unit_if_r(data):
    from norse.torch import IAFCell, SequentialState
    from norse.torch.utils.export_nir import to_nir as norse_to_nir

    model, x = data
    net = ss.convert(model, x, reset="zero")
    m = SequentialState(nn.Linear(16, 32), IAFCell(), nn.Linear(32, 10), IAFCell())
    with torch.no_grad():
        for i, s in zip((0, 2), net.stages):
            m[i].weight.copy_(s.weight)
            m[i].bias.copy_(s.bias)
    ref = run_peer(m, x, T)
    g = norse_to_nir(m, x[0])  # a batch in sample_data lands in input_type (peer quirk)
    back = sio.from_nir(g, if_r="unit")
    a = _agreement(back.run(x, T).spike_trains[-1].float(), ref)
    print(f"norse -> NIR -> spikescope: {a}")
    assert a["predictions"] == 1.0


def test_threshold_equality_fires_in_a_nir_tool_as_in_spikescope():
    """v reaches the threshold exactly (0.5 + 0.5 = 1.0): spikescope fires (v >= t); the file's
    v_threshold (float32 just below t) makes Norse's v > t fire at the same step.
    (SpikingJelly fires at v >= t, like spikescope, whichever threshold NIR says.)"""
    import norse.torch as norse

    lin = nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(0.5)
        lin.bias.zero_()
    net = ss.convert(nn.Sequential(lin), torch.ones(4, 1), percentile=None, reset="zero")
    x = torch.ones(1, 1)
    ref = net.run(x, 6).spike_trains[-1].float()
    assert ref.flatten().tolist() == [0, 1, 0, 1, 0, 1]
    g = _export(net, if_r="unit")
    got = run_peer(norse.from_nir(g, dt=1e-3), x, T)[:6]
    assert torch.equal(got.flatten(), ref.flatten())
    g.nodes["fc1_neurons"].v_threshold = np.ones(1, np.float32)  # without the conversion
    late = run_peer(norse.from_nir(g, dt=1e-3), x, T)
    assert late[:6].flatten().tolist() == [0, 0, 1, 0, 0, 1]


def test_nirtorch_interprets_the_file_with_a_nir_if(data):
    """nirtorch 2.6 maps graph nodes, not neurons: with NIR's IF written out (dv/dt = R I,
    fire at v > t, reset to v_reset) it runs spikescope's file exactly. Its default Affine
    map drops the bias (`module.weight.bias = ...`, a nirtorch bug), so Affine is mapped here."""
    import nirtorch

    model, x = data
    net = ss.convert(model, x, reset="zero")
    g = _export(net)
    from nirtorch.nir_interpreter import _default_map_affine

    buggy = _default_map_affine(g.nodes["fc1"])
    assert not np.allclose(buggy.bias.detach().numpy(), g.nodes["fc1"].bias)  # the bug

    def affine(n):
        lin = nn.Linear(n.weight.shape[1], n.weight.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(n.weight))
            lin.bias.copy_(torch.as_tensor(n.bias))
        return lin

    m = nirtorch.nir_to_torch(g, {nir.IF: lambda n: NirIF(n, net.dt_ms * 1e-3),
                                  nir.Affine: affine})
    a = _agreement(run_peer(m, x, T), net.run(x, T).spike_trains[-1].float())
    print(f"spikescope -> NIR -> nirtorch (NIR IF): {a}")
    assert a["steps"] == 1.0


@pytest.mark.parametrize("peer", ["norse", "spikingjelly"])
def test_lif_with_unit_r_is_the_same_nir_network_for_readers_that_ignore_r(peer, data):
    """Norse ignores LIF r (takes 1, input gain dt/tau): lif_r="unit" writes r = 1 with the
    weights scaled by tau/dt, the same network under NIR, so Norse and SpikingJelly agree."""
    model, x = data
    net = ss.convert(model, x, reset="zero", leak=0.9, neuron="lif")
    ref = net.run(x, T).spike_trains[-1].float()
    got = run_peer(_peers()[peer](_export(net, lif_r="unit"), net.dt_ms * 1e-3), x, T)
    a = _agreement(got, ref)
    print(f"spikescope lif (lif_r='unit') -> NIR -> {peer}: {a}")
    assert a["steps"] == 1.0
