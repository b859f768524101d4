"""Device-agnostic core: runs on any torch device, with IEEE float32 sums.

The run and step paths create no tensor on a hard-coded device (checked in the source), the
layer-by-layer path also runs where the compiled CPU kernel does not (the neuron model's
torch ``run_layer``, what a GPU uses), and ``run`` computes with TF32 off (the exact-sum grid
needs IEEE float32 products; the previous settings are restored). Device-parametrized tests
run on the CPU here and on CUDA where present.
"""

import ast
import pathlib

import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope.neurons import NeuronParams, numba_kernel
from spikescope.sim import layerwise
from spikescope.sim.stages import Stage
from tests.test_blocked import Residual
from tests.test_fastpath import assert_same, reference, repeat

T = 30
CORE = pathlib.Path(ss.__file__).parent
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

ALLOWED_HOST = {
    ("neurons/numba_kernel.py", "integrate"): "the compiled kernel is the CPU backend",
    ("neurons/numba_kernel.py", "run_layer"): "the compiled kernel is the CPU backend",
    ("sim/recording.py", "accuracy_curve"): "returns numpy by contract, after the run",
    ("codes/ttfs_diagnostics.py", "*"): "analysis tables and arrays, after the run",
    ("sim/merge.py", "add"): "RunTotals: per-step totals kept on the host, after each run",
    ("sim/merge.py", "_mean"): "RunTotals: per-step totals kept on the host, after each run",
}
"""(module, function) -> why it may move data to the host (``.cpu()`` / ``.numpy()``)."""

HOT = {"sim/layerwise.py": None, "sim/recorder.py": None, "codes/base.py": None,
       "neurons/base.py": {"step_layer", "init_state"}, "neurons/if_lif.py": {"if_step"},
       "neurons/numba_kernel.py": {"run_layer"},
       "sim/network.py": {"reset", "run", "_advance", "step", "input_ops"}}
"""Run and step hot paths (None: the whole module): every new tensor names its device."""

FACTORIES = {"zeros", "ones", "empty", "full", "arange", "rand", "randn", "tensor", "eye",
             "as_tensor", "linspace"}


def _calls(path: pathlib.Path):
    """(enclosing function name, call node) for every call in a module."""
    tree = ast.parse(path.read_text())
    owner = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                owner[id(node)] = fn.name  # innermost wins: walked after its parents
    return [(owner.get(id(n), "<module>"), n) for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _is_cpu(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        node.value.startswith("cpu")


def test_no_hard_coded_device_in_the_core():
    """sim/, codes/ and neurons/: no ``.cpu()`` or ``.numpy()`` except the allowed places,
    no ``device="cpu"`` or ``torch.device("cpu")`` anywhere."""
    found = []
    for sub in ("sim", "codes", "neurons"):
        for path in sorted((CORE / sub).glob("*.py")):
            rel = f"{sub}/{path.name}"
            for fn, call in _calls(path):
                f = call.func
                where = f"{rel}:{call.lineno} in {fn}()"
                if isinstance(f, ast.Attribute) and f.attr in ("cpu", "numpy") and \
                        (rel, fn) not in ALLOWED_HOST and (rel, "*") not in ALLOWED_HOST:
                    found.append(f"{where}: .{f.attr}()")
                if any(k.arg == "device" and _is_cpu(k.value) for k in call.keywords):
                    found.append(f"{where}: device='cpu'")
                if isinstance(f, ast.Attribute) and f.attr == "device" and call.args and \
                        _is_cpu(call.args[0]):
                    found.append(f"{where}: torch.device('cpu')")
    assert not found, "tensors tied to the CPU on the core's paths:\n" + "\n".join(found)


def test_hot_paths_name_the_device_of_every_new_tensor():
    """torch.zeros/empty/full/... in run and step paths pass ``device=`` (else they land on
    the CPU whatever the network's device)."""
    found = []
    for rel, names in HOT.items():
        for fn, call in _calls(CORE / rel):
            f = call.func
            if names is not None and fn not in names:
                continue
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and \
                    f.value.id == "torch" and f.attr in FACTORIES and \
                    not any(k.arg == "device" for k in call.keywords):
                found.append(f"{rel}:{call.lineno} in {fn}(): torch.{f.attr} without device=")
    assert not found, "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path):
    """The source checks are not vacuous: they flag a planted offender."""
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\ndef step(x):\n    y = torch.zeros(3)\n"
                   "    return x.cpu().numpy(), torch.ones(2, device='cpu')\n")
    calls = _calls(bad)
    assert {c.func.attr for _, c in calls if isinstance(c.func, ast.Attribute)} >= \
        {"zeros", "cpu", "numpy", "ones"}
    assert any(_is_cpu(k.value) for _, c in calls for k in c.keywords if k.arg == "device")


# ----------------------------------------------------------------------------- running
def _nets(digits, digits_cnn):
    torch.manual_seed(4)
    return {"chain": ss.convert(digits_cnn, digits[0][:200]),
            "graph": ss.convert(Residual(nn.MaxPool2d(2)).eval(), digits[0][:200])}


@pytest.mark.parametrize("device", DEVICES)
def test_run_equals_stepping_on_device(digits, digits_cnn, device):
    """On each device: run() (layer by layer in blocks) equals stepping bit for bit, and the
    recording lives on that device."""
    for name, net in _nets(digits, digits_cnn).items():
        net.to(device)
        assert layerwise.applicable(net), f"{name}: no layer-by-layer path on {device}"
        x = (digits[0][:3] * 1.5).to(device)
        ref, ref_v = reference(net, repeat(x, T))
        for k in (1, 7, T):
            rec = net.run(x, T) if k == T else _blocked_run(net, x, k)
            assert_same(rec, ref)
            assert all(torch.equal(s.v, v) for s, v in zip(net.state, ref_v))
        assert rec.output_counts.device.type == device
        assert rec.spike_trains[0].device.type == device


def _blocked_run(net, x, k):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(layerwise, "block_size", lambda *_: k)
        return net.run(x, T)


def test_torch_run_layer_equals_stepping(monkeypatch, digits, digits_cnn):
    """The neuron model's torch ``run_layer`` (what runs where the compiled CPU kernel does
    not, e.g. on a GPU) in blocks equals stepping, for every neuron variant."""
    calls = []
    monkeypatch.setattr(numba_kernel, "applies", lambda *_: calls.append(1) and False)
    for net in _nets(digits, digits_cnn).values():
        for params in (NeuronParams(), NeuronParams(leak=0.9, reset="zero", refractory=2)):
            net.params = params
            net.clamp_delay = 1
            x = digits[0][:2] * 2.0
            ref, _ = reference(net, repeat(x, T))
            for k in (1, 7, T):
                assert_same(_blocked_run(net, x, k), ref)
    assert calls, "the compiled kernel was not asked (the run did not go layer by layer)"


@pytest.mark.parametrize("path", ["fused", "stepping", "step"])
def test_run_computes_without_tf32_and_restores_the_setting(monkeypatch, digits, digits_cnn,
                                                            path):
    """Inside run() (both paths) and step() products and convolutions are IEEE float32;
    afterwards the caller's TF32 settings are back."""
    mm, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = mm.fp32_precision, conv.fp32_precision
    seen = []
    synapse = Stage.synapse

    def spy(self, x, **kw):
        seen.append((mm.fp32_precision, conv.fp32_precision))
        return synapse(self, x, **kw)

    net = _nets(digits, digits_cnn)["chain"]
    net.fused_kernels = path == "fused"
    monkeypatch.setattr(Stage, "synapse", spy)
    try:
        mm.fp32_precision = conv.fp32_precision = "tf32"
        if path == "step":
            net.reset(2)
            for _ in range(5):
                net.step(digits[0][:2])
        else:
            net.run(digits[0][:2], 5)
        after = mm.fp32_precision, conv.fp32_precision
    finally:
        mm.fp32_precision, conv.fp32_precision = saved
    assert seen and set(seen) == {("ieee", "ieee")}, seen[:3]
    assert after == ("tf32", "tf32")
