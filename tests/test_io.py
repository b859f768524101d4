"""spikescope.io: loading every accepted format, inspection, NIR round trips, run export."""

from __future__ import annotations

import io

import nir
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from safetensors.torch import save as st_save
from torch import nn

import spikescope as ss
from spikescope import datasets, zoo
from spikescope import io as sio


@pytest.fixture(scope="module")
def xy():
    x, y = datasets.load("digits", "test")
    return x[:64], y[:64]


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _script_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    return buf.getvalue()


def onnx_model(nodes, inits: dict[str, np.ndarray], in_shape, out_shape) -> bytes:
    """An ONNX model from helper nodes and named float32 initializers."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_cnn(rng: np.random.Generator) -> tuple[bytes, dict]:
    """Conv-BN-Relu-MaxPool-Conv-Relu-AveragePool-Reshape-Gemm-Relu-MatMul-Add on (1, 8, 8)."""
    r = lambda *s: rng.normal(0, 0.4, s)  # noqa: E731
    inits = {"w1": r(4, 1, 3, 3), "b1": r(4), "g": 1 + 0.1 * r(4), "beta": r(4), "mu": r(4),
             "var": 0.5 + np.abs(r(4)), "w2": r(6, 4, 3, 3), "b2": r(6),
             "shape": np.array([-1, 24]), "w3": r(16, 24), "b3": r(16), "w4": r(16, 10),
             "b4": r(10)}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["n1"],
                         epsilon=1e-3),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["p2", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r3"]),
        helper.make_node("MatMul", ["r3", "w4"], ["m"]),
        helper.make_node("Add", ["m", "b4"], ["y"]),
    ]
    inits["shape"] = inits["shape"].astype(np.int64)
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
        initializer=[numpy_helper.from_array(v if k == "shape" else v.astype(np.float32), k)
                     for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    onnx.checker.check_model(model)
    return model.SerializeToString(), inits


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn"])
def test_safetensors_and_state_dict_detect_the_zoo_architecture(name, xy, tmp_path):
    x, _ = xy
    ref = zoo.load(name)
    sd = ref.state_dict()
    path = tmp_path / "w.safetensors"
    path.write_bytes(st_save({k: v.contiguous() for k, v in sd.items()}))
    legacy = io.BytesIO()
    torch.save(sd, legacy, _use_new_zipfile_serialization=False)
    for source in (path, path.read_bytes(), _torch_save(sd), _torch_save({"state_dict": sd}),
                   legacy.getvalue()):
        m = sio.load_model(source)
        assert m.architecture == name, f"architecture detected as {m.architecture}"
        assert m.input_shape == (1, 8, 8) and m.source_format in ("safetensors", "torch", "pickle")
        torch.testing.assert_close(m(x), ref(x))
    m = sio.load_model(_torch_save(sd), architecture=name)
    torch.testing.assert_close(m(x), ref(x))


class Custom(nn.Module):
    """A non-Sequential module with functional ReLU and flatten in forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1, stride=2)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(x, 1))


@pytest.mark.parametrize("make", [lambda: zoo.load("digits-cnn"), Custom])
def test_torchscript_is_rebuilt_as_plain_layers(make, xy):
    x, _ = xy
    torch.manual_seed(0)
    ref = make().eval()
    if isinstance(ref, Custom):
        ref.bn.running_mean.uniform_(-0.2, 0.2)
        ref.bn.running_var.uniform_(0.5, 2.0)
    m = sio.load_model(_script_bytes(ref))
    assert isinstance(m, nn.Sequential)
    assert not any(isinstance(c, torch.jit.ScriptModule) for c in m.modules())
    torch.testing.assert_close(m(x), ref(x), atol=1e-5, rtol=1e-5)
    net = ss.convert(m, x, percentile=100)  # the rebuilt model converts
    assert net.n_classes == 10


def test_onnx_graph_maps_onto_torch_layers_and_converts(xy):
    x, _ = xy
    data, _ = onnx_cnn(np.random.default_rng(0))
    m = sio.load_model(data)
    kinds = [type(c).__name__ for c in m]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "AvgPool2d",
                     "Flatten", "Linear", "ReLU", "Linear"], kinds
    assert m.input_shape == (1, 8, 8)
    want = ReferenceEvaluator(onnx.load_model_from_string(data)).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(m(x).detach().numpy(), want, atol=1e-4, rtol=1e-4)
    net = ss.convert(m, x, percentile=100)
    assert [s.kind for s in net.stages] == ["conv", "conv", "linear", "linear"]


def test_onnx_gemm_alpha_beta_and_flatten(xy):
    x, _ = xy
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(64, 10)), rng.normal(size=10)
    data = onnx_model([helper.make_node("Flatten", ["x"], ["f"]),
                       helper.make_node("Gemm", ["f", "w", "b"], ["y"], alpha=0.5, beta=2.0)],
                      {"w": w, "b": b}, [None, 1, 8, 8], [None, 10])
    m = sio.load_model(data)
    want = ReferenceEvaluator(onnx.load_model_from_string(data)).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(m(x).detach().numpy(), want, atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- inspection
def test_inspect_reports_layers_shapes_and_unsupported_ones():
    rep = sio.inspect_model(zoo.load("digits-cnn"), (1, 8, 8))
    assert rep.convertible and rep.unsupported == []
    assert [layer.kind for layer in rep.layers][:3] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert rep.layers[0].out_shape == (16, 8, 8) and rep.layers[-1].out_shape == (10,)
    assert rep.n_params == sum(p.numel() for p in zoo.load("digits-cnn").parameters())
    bad = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    rep = sio.inspect_model(bad, (1, 8, 8))
    assert not rep.convertible and rep.unsupported == ["Tanh"]
    assert "Tanh" in rep.error and "Tanh" in str(rep)
    assert rep.to_dict()["layers"][2] == {"name": "2", "kind": "Tanh", "supported": False,
                                          "n_params": 0, "out_shape": [32]}


def test_inspect_lists_unsupported_onnx_ops_when_not_strict():
    rng = np.random.default_rng(2)
    data = onnx_model([helper.make_node("Flatten", ["x"], ["f"]),
                       helper.make_node("Gemm", ["f", "w", "b"], ["h"]),
                       helper.make_node("Sigmoid", ["h"], ["s"]),
                       helper.make_node("Gemm", ["s", "w2", "b2"], ["y"])],
                      {"w": rng.normal(size=(64, 8)), "b": np.zeros(8),
                       "w2": rng.normal(size=(8, 3)), "b2": np.zeros(3)},
                      [None, 1, 8, 8], [None, 3])
    with pytest.raises(ss.ConversionError, match="Sigmoid"):
        sio.load_model(data)
    m = sio.load_model(data, strict=False)
    rep = sio.inspect_model(m, m.input_shape)
    assert rep.unsupported == ["Sigmoid"] and not rep.convertible
    assert rep.layers[-1].kind == "Linear"  # layers after the unsupported one are still listed


def test_inspect_shape_mismatch_is_reported_not_raised():
    rep = sio.inspect_model(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (1, 8, 8))
    assert not rep.convertible and "does not accept" in rep.error


# ----------------------------------------------------------------------------- NIR
def _same_spikes(a: ss.Recording, b: ss.Recording) -> None:
    for l, (ta, tb) in enumerate(zip(a.spike_trains, b.spike_trains)):
        assert torch.equal(ta, tb), f"layer {l}: spike trains differ after the NIR round trip"
    assert torch.equal(a.output_counts, b.output_counts)


@pytest.mark.parametrize("name,opts", [
    ("digits-cnn", {}),
    ("digits-mlp", {"leak": 0.9, "reset": "zero", "threshold": 0.8}),
    ("digits-mlp", {"readout": "membrane", "dt_ms": 0.5}),
])
def test_nir_round_trip_through_a_file_gives_the_same_spikes(name, opts, xy, tmp_path):
    x, _ = xy
    net = ss.convert(zoo.load(name), x, percentile=99.9, **opts)
    path = tmp_path / "net.nir"
    sio.save_nir(net, path)
    back = sio.load_nir(path)
    assert back.params == net.params and back.readout == net.readout
    assert back.dt_ms == net.dt_ms and back.input_shape == net.input_shape
    np.testing.assert_allclose(back.lambdas, net.lambdas)
    _same_spikes(net.run(x[:6], 20), back.run(x[:6], 20))


def test_to_nir_graph_structure(xy):
    x, _ = xy
    net = ss.convert(zoo.load("digits-cnn"), x, leak=0.95)
    g = sio.to_nir(net)
    kinds = [type(g.nodes[b]).__name__ for _, b in g.edges]
    assert kinds == ["Conv2d", "LIF", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "LIF",
                     "Affine", "LIF", "Output"], kinds
    lif = g.nodes["conv1_neurons"]
    # forward Euler: leak = 1 - dt/tau, unit input gain R dt/tau = 1
    np.testing.assert_allclose(1 - 1e-3 / lif.tau, 0.95, rtol=1e-5)
    np.testing.assert_allclose(lif.r * 1e-3 / lif.tau, 1.0, rtol=1e-5)
    # NIR fires at v > t: the float32 just below 1 fires where spikescope's v >= 1 does
    np.testing.assert_array_equal(lif.v_threshold, np.full((16, 8, 8), np.nextafter(
        np.float32(1), np.float32(0)), np.float32))


def test_maxpool_network_has_no_nir_equivalent(xy):
    x, _ = xy
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ss.ConversionError, match="max-pooling"):
        sio.to_nir(ss.convert(model, x))


def test_from_nir_imports_a_foreign_graph():
    """A graph as another tool writes it: Linear without bias, IF with R = 2 meant per step
    (snnTorch/Norse/sinabs convention, if_r="unit"), SumPool2d."""
    rng = np.random.default_rng(3)
    w1 = rng.uniform(0, 0.3, (2, 1, 3, 3)).astype(np.float32)
    w2 = rng.uniform(0, 0.3, (3, 8)).astype(np.float32)
    nodes = {
        "in": nir.Input(input_type=np.array([1, 4, 4])),
        "c": nir.Conv2d(input_shape=(4, 4), weight=w1, stride=1, padding=1, dilation=1,
                        groups=1, bias=np.zeros(2, np.float32)),
        "n1": nir.IF(r=np.full((2, 4, 4), 2.0, np.float32),
                     v_threshold=np.ones((2, 4, 4), np.float32)),
        "p": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([0, 0])),
        "f": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "l": nir.Linear(weight=w2),
        "n2": nir.IF(r=np.ones(3, np.float32), v_threshold=np.ones(3, np.float32)),
        "out": nir.Output(output_type=np.array([3])),
    }
    order = ["in", "c", "n1", "p", "f", "l", "n2", "out"]
    net = sio.from_nir(nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:]))),
                       if_r="unit")
    assert net.params.reset == "zero"  # NIR neurons reset to v_reset
    x = torch.rand(3, 1, 4, 4)
    rec = net.run(x, 12)
    # reference: the NIR semantics written out by hand
    v1, v2 = torch.zeros(3, 2, 4, 4), torch.zeros(3, 3)
    counts = torch.zeros(3, 3)
    for _ in range(12):
        v1 += 2.0 * F.conv2d(x, torch.from_numpy(w1), padding=1)
        s1 = (v1 >= 1).float()
        v1 *= 1 - s1
        pooled = F.avg_pool2d(s1, 2) * 4
        v2 += pooled.flatten(1) @ torch.from_numpy(w2).T
        s2 = (v2 >= 1).float()
        v2 *= 1 - s2
        counts += s2
    assert torch.equal(rec.spike_counts[1].float(), counts)


# ----------------------------------------------------------------------------- runs
def test_save_and_load_run_reproduces_the_figure_data(xy, tmp_path):
    x, y = xy
    net = ss.convert(zoo.load("digits-mlp"), x)
    rec = net.run(x[:8], 30, neurons={0: [0, 5, 7], 2: list(range(10))})
    params = {"model": "digits-mlp", "percentile": 99.9, "timesteps": 30,
              "threshold": net.params.threshold, "shape": (1, 8, 8)}
    curve = rec.accuracy_curve(y[:8])
    path = sio.save_run(tmp_path / "run", params, rec, plots={"accuracy": curve})
    assert path.suffix == ".npz"
    run = sio.load_run(path)
    assert run.params == {**params, "shape": [1, 8, 8]}
    assert run.summary == rec.summary()
    np.testing.assert_array_equal(run.plots["accuracy"], curve)
    r = run.recording
    np.testing.assert_array_equal(r.accuracy_curve(y[:8]), curve)
    for a, b in zip(r.spike_trains, rec.spike_trains):
        assert torch.equal(a, b)
    for a, b in zip(r.membrane, rec.membrane):
        assert torch.equal(a, b)
    assert torch.equal(r.synaptic_ops, rec.synaptic_ops)
    assert r.membrane_neurons[0].tolist() == [0, 5, 7]


def test_run_without_trains_or_membrane(xy, tmp_path):
    x, _ = xy
    rec = ss.convert(zoo.load("digits-mlp"), x).run(x[:4], 5, record=())
    run = sio.load_run(sio.save_run(tmp_path / "r.npz", {}, rec))
    assert run.recording.spike_trains is None and run.recording.membrane is None
    assert torch.equal(run.recording.output_counts, rec.output_counts)


def test_traced_torchscript_conv_is_refused_not_guessed():
    """A traced module keeps no stride/padding: loading it must not silently rebuild a
    different network (stride 1, no padding)."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 3)).eval()
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(model, torch.rand(1, 1, 8, 8)), buf)
    with pytest.raises(sio.ModelLoadError, match="stride, padding, dilation"):
        sio.load_model(buf.getvalue())
