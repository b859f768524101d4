"""Reliability corpus: every bad input a user can bring gives a specific error, never a crash.

Each case names the input, the exception type and a phrase the message must contain. The
pickle payloads are real: a separate test shows that plain ``pickle.loads`` runs them.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import nir
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save as st_save
from torch import nn

import spikescope as ss
from spikescope import dvs, zoo
from spikescope import io as sio


# ----------------------------------------------------------------------------- payloads
class OpenPayload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class SystemPayload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _rezip(data: bytes, replace: dict[str, bytes]) -> bytes:
    """A copy of zip ``data`` with members whose name ends with a key replaced (each key must
    match a member: TorchScript's file names change, e.g. with mangled class names)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    hit = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    body = new(body) if callable(new) else new
                    hit.add(suffix)
            dst.writestr(info.filename, body)
    assert hit == set(replace), f"no member ends with {set(replace) - hit}"
    return out.getvalue()


def _flip_member_byte(data: bytes, suffix: str) -> bytes:
    """Corrupt one byte inside the stored data of the zip member ending with ``suffix``."""
    z = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in z.infolist() if i.filename.endswith(suffix))
    raw = bytearray(data)
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0xFF
    return bytes(raw)


def _script(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    return buf.getvalue()


def _onnx(nodes, inits, in_shape=(None, 1, 8, 8), out_shape=(None, 10)) -> bytes:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]) \
        .SerializeToString()


def _onnx_mlp(w: np.ndarray | None = None) -> bytes:
    w = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32) if w is None else w
    return _onnx([helper.make_node("Flatten", ["x"], ["f"]),
                  helper.make_node("Gemm", ["f", "w", "b"], ["y"])],
                 {"w": w, "b": np.zeros(w.shape[1], np.float32)})


def _onnx_external() -> bytes:
    """An ONNX MLP whose weight claims to live in /etc/passwd (must never be read)."""
    model = onnx.load_model_from_string(_onnx_mlp())
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="/etc/passwd")
    return model.SerializeToString()


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Shared material: valid files of every format, a converted network, data."""
    d = tmp_path_factory.mktemp("bad")
    mlp = zoo.load("digits-mlp")
    sd = {k: v.contiguous() for k, v in mlp.state_dict().items()}
    x = torch.rand(16, 1, 8, 8)
    net = ss.convert(zoo.load("digits-cnn"), x)
    nir_path = d / "good.nir"
    sio.save_nir(ss.convert(mlp, x), nir_path)
    rec = net.run(x[:2], 5)
    run_path = sio.save_run(d / "good.npz", {"a": 1}, rec)
    return {"dir": d, "sd": sd, "safetensors": st_save(sd), "torch": _torch_save(sd),
            "script": _script(mlp), "onnx": _onnx_mlp(), "net": net, "x": x,
            "nir": nir_path, "run": run_path}


def _write(env, name: str, data: bytes) -> Path:
    p = env["dir"] / name
    p.write_bytes(data)
    return p


def _nir_graph(neuron) -> nir.NIRGraph:
    w = np.ones((3, 4), np.float32)
    nodes = {"in": nir.Input(input_type=np.array([4])), "a": nir.Affine(weight=w,
             bias=np.zeros(3, np.float32)), "n": neuron, "out": nir.Output(
             output_type=np.array([3]))}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("a", "n"), ("n", "out")])


# ----------------------------------------------------------------------------- the corpus
E = sio.ModelLoadError
U = sio.UnsafeModelError
C = ss.ConversionError
V = ValueError

CASES = {
    # --- files of every accepted format: empty, truncated, corrupt, unknown
    "empty file": (lambda e: sio.load_model(_write(e, "empty.pt", b"")), E, "empty"),
    "random bytes": (lambda e: sio.load_model(np.random.default_rng(0).bytes(500)), E,
                     "unknown model format"),
    "missing file": (lambda e: sio.load_model(e["dir"] / "nope.pt"), FileNotFoundError,
                     "does not exist"),
    "over the size limit": (lambda e: sio.load_model(e["safetensors"], max_bytes=1000), E,
                            "size limit"),
    "safetensors cut in header": (lambda e: sio.load_model(e["safetensors"][:40]), E,
                                  "truncated safetensors"),
    "safetensors cut in data": (lambda e: sio.load_model(e["safetensors"][:-100]), E,
                                "corrupt safetensors"),
    "safetensors bad header": (lambda e: sio.load_model(
        (12).to_bytes(8, "little") + b"{not json!}" + b"\0" * 20), E, "corrupt safetensors"),
    "state dict fits no architecture": (lambda e: sio.load_model(st_save(
        {"enc.weight": torch.zeros(3, 3)})), E, "matches no known architecture"),
    "state dict of another architecture": (lambda e: sio.load_model(
        e["safetensors"], architecture="digits-cnn"), E, "does not fit architecture"),
    "state dict with wrong shapes": (lambda e: sio.load_model(st_save(
        {**e["sd"], "1.weight": torch.zeros(128, 63)})), E, "has shape (128, 63)"),
    "unknown architecture name": (lambda e: sio.load_model(e["safetensors"],
                                                           architecture="resnet"), V,
                                  "unknown architecture"),
    "torch zip truncated": (lambda e: sio.load_model(e["torch"][:len(e["torch"]) // 2]), E,
                            "corrupt or truncated zip"),
    "torch zip corrupt member": (lambda e: sio.load_model(_flip_member_byte(e["torch"],
                                                                            "data/0")), E,
                                 "corrupt"),
    "torch file holds no state dict": (lambda e: sio.load_model(_torch_save([torch.ones(2)])),
                                       E, "expected a state dict"),
    "torch file holds non-tensors": (lambda e: sio.load_model(_torch_save({"w": 3})), E,
                                     "not tensors"),
    "torchscript truncated": (lambda e: sio.load_model(e["script"][:len(e["script"]) // 3]), E,
                              "corrupt or truncated zip"),
    "torchscript corrupt member": (lambda e: sio.load_model(_flip_member_byte(
        e["script"], "data/0")), E, "corrupt"),
    "torchscript unsupported layer": (lambda e: sio.load_model(_script(nn.Sequential(
        nn.Flatten(), nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 2)))), C, "Tanh"),
    "torchscript custom operator": (lambda e: sio.load_model(_rezip(e["script"], {
        ".py": lambda b: b + b"\ndef f(x):\n  return ops.evil.run(x)\n"})), U,
        "ops.evil"),
    "torchscript code run at load": (lambda e: sio.load_model(_rezip(e["script"], {
        ".py": lambda b: b + b"\n  def __setstate__(self, state):\n    pass\n"})), U,
        "__setstate__"),
    "onnx truncated": (lambda e: sio.load_model(e["onnx"][:len(e["onnx"]) // 2]), E,
                       "ONNX"),
    "onnx garbage after magic": (lambda e: sio.load_model(b"\x08" + b"\xff" * 64), E, "ONNX"),
    "onnx unsupported op": (lambda e: sio.load_model(_onnx(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Sigmoid", ["f"], ["s"]),
         helper.make_node("Gemm", ["s", "w", "b"], ["y"])],
        {"w": np.ones((64, 10), np.float32), "b": np.zeros(10, np.float32)})), C, "Sigmoid"),
    "onnx branching graph": (lambda e: sio.load_model(_onnx(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Relu", ["f"], ["r"]),
         helper.make_node("Add", ["f", "r"], ["s"]),
         helper.make_node("Gemm", ["s", "w", "b"], ["y"])],
        {"w": np.ones((64, 10), np.float32), "b": np.zeros(10, np.float32)})), C, "chain"),
    "onnx asymmetric padding": (lambda e: sio.load_model(_onnx(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 0, 1, 1])],
        {"w": np.ones((2, 1, 3, 3), np.float32)}, out_shape=(None, 2, 7, 7))), C,
        "asymmetric padding"),
    "onnx reshape that is not a flatten": (lambda e: sio.load_model(_onnx(
        [helper.make_node("Reshape", ["x", "s"], ["y"])],
        {"s": np.array([1, 2, 4, 8], np.int64)}, out_shape=(1, 2, 4, 8))), C, "flatten"),
    "onnx weights in an external file": (lambda e: sio.load_model(_onnx_external()), E,
                                         "external data"),
    "onnx inf weights": (lambda e: sio.load_model(_onnx_mlp(np.full((64, 10), np.inf,
                                                                    np.float32))), E,
                         "NaN or infinite"),
    "onnx zero-size layer": (lambda e: sio.load_model(_onnx_mlp(np.zeros((64, 0),
                                                                         np.float32))), E,
                             "zero size"),
    "state dict with NaN weights": (lambda e: sio.load_model(st_save(
        {**e["sd"], "1.weight": torch.full((128, 64), float("nan"))})), E, "NaN or infinite"),
    # --- conversion
    "convert NaN weights": (lambda e: ss.convert(nn.Sequential(nn.Flatten(), nn.Linear(
        64, 3)).requires_grad_(False).apply(lambda m: m.weight.fill_(float("nan"))
                                            if isinstance(m, nn.Linear) else None),
        e["x"]), C, "NaN or infinite"),
    "convert zero-size layer": (lambda e: ss.convert(nn.Sequential(nn.Flatten(), nn.Linear(
        64, 0)), e["x"]), C, "zero size"),
    "empty calibration set": (lambda e: ss.convert(zoo.load("digits-mlp"),
                                                   torch.zeros(0, 1, 8, 8)), V, "empty"),
    "calibration with NaN": (lambda e: ss.convert(zoo.load("digits-mlp"), torch.full(
        (4, 1, 8, 8), float("nan"))), V, "NaN"),
    "calibration images with 3 channels": (lambda e: ss.convert(zoo.load("digits-cnn"),
                                                                torch.rand(4, 3, 8, 8)), C,
                                           "does not accept input"),
    "percentile 0": (lambda e: ss.convert(zoo.load("digits-mlp"), e["x"], percentile=0), V,
                     "percentile"),
    "percentile above 100": (lambda e: ss.convert(zoo.load("digits-mlp"), e["x"],
                                                  percentile=100.5), V, "percentile"),
    "percentile negative": (lambda e: ss.convert(zoo.load("digits-mlp"), e["x"],
                                                 percentile=-5), V, "percentile"),
    "percentile NaN": (lambda e: ss.convert(zoo.load("digits-mlp"), e["x"],
                                            percentile=float("nan")), V, "percentile"),
    "unsupported torch layer": (lambda e: ss.convert(nn.Sequential(nn.Flatten(), nn.Linear(
        64, 4), nn.Sigmoid(), nn.Linear(4, 2)), e["x"]), C, "Sigmoid"),
    # --- simulation
    "T = 0": (lambda e: e["net"].run(e["x"], 0), V, "positive integer"),
    "T negative": (lambda e: e["net"].run(e["x"], -3), V, "positive integer"),
    "T not an integer": (lambda e: e["net"].run(e["x"], 2.5), V, "positive integer"),
    "T absurdly large": (lambda e: e["net"].run(e["x"], 10**9), V, "exceeds the limit"),
    "run input flattened": (lambda e: e["net"].run(torch.rand(4, 64), 5), V, "expects"),
    "run images with 3 channels": (lambda e: e["net"].run(torch.rand(4, 3, 8, 8), 5), V,
                                   "expects"),
    "run input with NaN": (lambda e: e["net"].run(torch.full((2, 1, 8, 8), float("nan")), 5),
                           V, "NaN"),
    "step before reset": (lambda e: ss.convert(zoo.load("digits-mlp"), e["x"]).step(
        e["x"][:1]), RuntimeError, "reset"),
    "step with wrong batch": (lambda e: (e["net"].reset(2), e["net"].step(e["x"][:3])), V,
                              "batch size"),
    "poisson rate too high": (lambda e: e["net"].run(e["x"][:2], 5, encoding="poisson",
                                                     max_rate_hz=5000), V, "spikes per step"),
    "unknown encoding": (lambda e: e["net"].run(e["x"][:2], 5, encoding="morse"), V,
                         "unknown encoding"),
    # --- NIR
    "nir file corrupt": (lambda e: sio.load_nir(_write(e, "bad.nir", b"\x89HDF garbage")), E,
                         "not a readable NIR file"),
    "nir file truncated": (lambda e: sio.load_nir(_write(
        e, "cut.nir", e["nir"].read_bytes()[:600])), E, "not a readable NIR file"),
    "nir unsupported neuron": (lambda e: sio.from_nir(_nir_graph(nir.CubaLIF(
        tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
        v_threshold=np.ones(3)))), C, "CubaLIF"),
    "nir nonzero reset potential": (lambda e: sio.from_nir(_nir_graph(nir.IF(
        r=np.ones(3), v_threshold=np.ones(3), v_reset=np.full(3, 0.5)))), C, "v_reset"),
    "nir per-neuron thresholds": (lambda e: sio.from_nir(_nir_graph(nir.IF(
        r=np.ones(3), v_threshold=np.array([1.0, 2.0, 3.0])))), C, "differs between neurons"),
    "nir on a MaxPool network": (lambda e: sio.to_nir(ss.convert(nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 2)),
        e["x"])), C, "no NIR equivalent"),
    # --- run files
    "run file truncated": (lambda e: sio.load_run(_write(
        e, "cut.npz", e["run"].read_bytes()[:200])), sio.RunFileError, "not a readable run"),
    "run file with a pickled object array": (lambda e: (np.savez(
        e["dir"] / "obj.npz", **{"meta.json": np.array([{"x": 1}], dtype=object)}),
        sio.load_run(e["dir"] / "obj.npz")), sio.RunFileError, "not a readable run"),
    "npz that is not a run": (lambda e: (np.savez(e["dir"] / "other.npz", a=np.ones(3)),
                                         sio.load_run(e["dir"] / "other.npz")),
                              sio.RunFileError, "incomplete or corrupt"),
    "run params not JSON": (lambda e: sio.save_run(e["dir"] / "r.npz", {"model": nn.ReLU()},
                                                   e["net"].run(e["x"][:1], 2)), V,
                            "JSON-serializable"),
    # --- event files
    "n-mnist truncated": (lambda e: dvs.read_nmnist(_write(e, "cut.bin", b"\x01" * 12)),
                          dvs.EventFileError, "truncated"),
    "n-mnist coordinates outside the sensor": (lambda e: dvs.read_nmnist(_write(
        e, "far.bin", bytes([200, 5, 0x80, 0, 10])), sensor_size=(34, 34)),
        dvs.EventFileError, "outside"),
    "aedat4 garbage": (lambda e: dvs.read_aedat4(_write(e, "bad.aedat4", b"#!AER-DAT4.0\r\n"
                                                         + b"\x00\xff" * 40)),
                       dvs.EventFileError, "AEDAT4"),
}


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_a_specific_error(case, env):
    make, exc, phrase = CASES[case]
    with pytest.raises(exc) as info:
        make(env)
    assert phrase.lower() in str(info.value).lower(), \
        f"{case}: message {str(info.value)!r} does not mention {phrase!r}"


# ----------------------------------------------------------------------------- code execution
@pytest.mark.parametrize("payload", [OpenPayload, SystemPayload])
def test_payload_is_real(payload, tmp_path):
    """Plain pickle.loads runs the payload, so refusing it below is meaningful."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(payload(marker)))  # noqa: S301 - the point of the test
    assert marker.exists()


@pytest.mark.parametrize("payload", [OpenPayload, SystemPayload])
@pytest.mark.parametrize("container", ["pickle", "torch.save", "legacy torch.save",
                                       "torchscript", "file path"])
def test_code_executing_file_is_refused_and_never_run(payload, container, tmp_path):
    marker = tmp_path / "pwned"
    evil = payload(marker)
    if container == "pickle":
        data = pickle.dumps({"fc.weight": evil}, protocol=2)
    elif container == "torch.save":
        data = _torch_save({"fc.weight": torch.ones(2), "evil": evil})
    elif container == "legacy torch.save":
        buf = io.BytesIO()
        torch.save({"fc.weight": torch.ones(2), "evil": evil}, buf,
                   _use_new_zipfile_serialization=False)
        data = buf.getvalue()
    else:
        good = _script(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
        data = _rezip(good, {"archive/data.pkl": pickle.dumps(evil, protocol=2)})
    source: bytes | Path = data
    if container in ("torchscript", "file path"):
        source = tmp_path / "model.pt"
        source.write_bytes(data)
    with pytest.raises(sio.UnsafeModelError, match="refused") as info:
        sio.load_model(source)
    assert ("open" in str(info.value)) or ("system" in str(info.value))
    assert not marker.exists(), "the payload ran: the loader executed code from the file"
