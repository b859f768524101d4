"""Corpus classes for model files: pickle payloads, TorchScript code, zip bombs, damaged files.

Every case is ``(name, fn, phrase)``: ``fn(ctx)`` must raise a ``SpikescopeError`` whose message
contains ``phrase``; payloads write ``ctx["marker"]`` if they ever run.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch
from torch import nn

from spikescope import io as sio
from spikescope import zoo


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def payloads(marker: str) -> dict[str, object]:
    return {"os.system": _Reduce(os.system, (f"touch {marker}",)),
            "open": _Reduce(open, (marker, "w")),
            "exec": _Reduce(exec, (f"open({marker!r}, 'w')",)),
            "eval": _Reduce(eval, (f"open({marker!r}, 'w')",)),
            "posix.system": _Reduce(os.system, (f"touch {marker}",))}


def memo_payload(marker: str, decoy_popped: bool = True) -> bytes:
    """os.system stored in the memo, a decoy pushed (collections.OrderedDict), the real names
    read back from the memo for STACK_GLOBAL: what fooled the old scanner."""
    def s(x: str) -> bytes:
        return b"\x8c" + bytes([len(x)]) + x.encode()
    body = s("os") + b"\x94" + s("system") + b"\x94" + b"00"
    body += s("collections") + s("OrderedDict") + (b"00" if decoy_popped else b"")
    body += b"h\x00h\x01\x93" + s(f"touch {marker}") + b"\x85R"
    if not decoy_popped:
        body += b"0000"  # leave the result, pop the decoys: stack ends with one object
    return b"\x80\x04" + body + b"."


def _rezip(data: bytes, replace: dict[str, bytes] | None = None,
           add: dict[str, bytes] | None = None, compress=zipfile.ZIP_STORED) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            body = src.read(info.filename)
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    body = new
            z.writestr(info.filename, body, compress_type=compress)
        for name, body in (add or {}).items():
            z.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _forge_size(data: bytes, size: int) -> bytes:
    """Patch every central-directory entry's uncompressed size (nothing else changes)."""
    b = bytearray(data)
    i = b.find(b"PK\x01\x02")
    while i != -1:
        b[i + 24:i + 28] = struct.pack("<I", size)
        i = b.find(b"PK\x01\x02", i + 4)
    return bytes(b)


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _script(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    return buf.getvalue()


def _write(ctx, name: str, data: bytes) -> str:
    p = os.path.join(ctx["tmp"], name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def _load(name: str, data_fn, **kw):
    def fn(ctx):
        sio.load_model(_write(ctx, name, data_fn(ctx)), **kw)
    return fn


def pickle_cases() -> list:
    cases = []
    sd = _torch_save(zoo.load("digits-mlp").state_dict())
    for kind in payloads("m"):
        for proto in range(0, 6):
            def data(ctx, kind=kind, proto=proto):
                return pickle.dumps(payloads(ctx["marker"])[kind], protocol=proto)
            cases.append((f"bare pickle {kind} protocol {proto}",
                          _load(f"p_{kind}_{proto}.pt", data), f"p_{kind}_{proto}.pt"))
        cases.append((f"torch zip data.pkl {kind}", _load(
            f"z_{kind}.pt", lambda ctx, k=kind: _rezip(sd, {"data.pkl": pickle.dumps(
                payloads(ctx["marker"])[k], protocol=2)})), "refused"))
    for popped in (True, False):
        cases.append((f"memo decoy STACK_GLOBAL (decoy popped={popped})",
                      _load(f"memo{popped}.pt", lambda ctx, p=popped: memo_payload(
                          ctx["marker"], p)), "os.system"))
        cases.append((f"memo decoy in torch zip (popped={popped})",
                      _load(f"memoz{popped}.pt", lambda ctx, p=popped: _rezip(
                          sd, {"data.pkl": memo_payload(ctx["marker"], p)})), "os.system"))
    cases.append(("STACK_GLOBAL on a computed name", _load("computed.pt", lambda ctx: (
        b"\x80\x04K\x01K\x02\x93."), ), "computed name"))
    return cases


def _ts_code_member(data: bytes) -> str:
    return next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
                if "/code/" in n and n.endswith(".py"))


TS_INJECTIONS = {
    "comment between name and parenthesis": "  _m = torch.from_file  # x\n(\"{m}\")\n",
    "line break between name and parenthesis": "  _m = torch.from_file\n(\"{m}\")\n",
    "backslash continuation": "  _m = torch.from_file\\\n(\"{m}\")\n",
    "spaces before parenthesis": "  _m = open   (\"{m}\", \"w\")\n",
    "torch.load": "  _m = torch.load(\"{m}\")\n",
    "torch.save": "  torch.save(x, \"{m}\")\n",
    "custom operator namespace": "  _m = ops.evil.touch(\"{m}\")\n",
    "__setstate__": "  def __setstate__(self, s):\n    pass\n",
    "_load_for_mobile": "  _m = torch._C._load_for_mobile(\"{m}\")\n",
    "eval": "  _m = eval(\"open('{m}', 'w')\")\n",
    "exec": "  exec(\"open('{m}', 'w')\")\n",
    "system": "  _m = os.system(\"touch {m}\")\n",
    "__import__": "  _m = __import__(\"os\")\n",
    "compile": "  _m = compile(\"1\", \"f\", \"eval\")\n",
}


def torchscript_cases() -> list:
    base = _script(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    member = _ts_code_member(base)
    code = zipfile.ZipFile(io.BytesIO(base)).read(member).decode()
    cases = []
    for what, snippet in TS_INJECTIONS.items():
        def data(ctx, snippet=snippet):
            return _rezip(base, {member: (code + snippet.format(m=ctx["marker"])).encode()})
        cases.append((f"TorchScript code: {what}", _load(f"ts_{len(cases)}.pt", data,
                                                         allow_torchscript=True), "refused"))
    for kind in ("os.system", "open", "eval"):
        cases.append((f"TorchScript data.pkl payload {kind}", _load(
            f"tsp_{kind}.pt", lambda ctx, k=kind: _rezip(base, {"data.pkl": pickle.dumps(
                payloads(ctx["marker"])[k], protocol=2)}), allow_torchscript=True), "refused"))
    cases.append(("TorchScript without the trust option", _load("ts_plain.pt", lambda ctx: base,
                                                                 allow_torchscript=False),
                  "trust"))
    cases.append(("TorchScript memo decoy payload", _load("ts_memo.pt", lambda ctx: _rezip(
        base, {"data.pkl": memo_payload(ctx["marker"])}), allow_torchscript=True), "os.system"))
    return cases


def zip_cases() -> list:
    sd = _torch_save(zoo.load("digits-mlp").state_dict())
    ts = _script(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    big = bytes(64 * 2**20)  # 64 MiB of zeros deflate to ~64 KiB
    cases = []
    for name, base in (("torch.save", sd), ("TorchScript", ts)):
        kw = {"allow_torchscript": True}
        cases.append((f"{name} zip with a 64 MiB zero record", _load(
            f"bomb_{name}.pt", lambda ctx, b=base: _rezip(b, add={"archive/data/99": big}),
            **kw), "decompression bomb"))
        for size in (2**31, 2**32 - 1, 300 * 2**20):
            cases.append((f"{name} zip declaring {size} bytes", _load(
                f"forged_{name}_{size}.pt", lambda ctx, b=base, s=size: _forge_size(b, s), **kw),
                "declares"))
        cases.append((f"{name} zip over 4x the size limit", _load(
            f"total_{name}.pt", lambda ctx, b=base: _forge_size(b, 60_000),
            max_bytes=len(base) + 100, **kw), "uncompressed"))
    return cases


def _safetensors(sd) -> bytes:
    from safetensors.torch import save
    return save(sd)


def _onnx_pool(with_kernel: bool, dims=(1, 1, 8, 8)) -> bytes:
    from onnx import TensorProto, helper
    attrs = {"kernel_shape": [2, 2]} if with_kernel else {}
    node = helper.make_node("MaxPool", ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, list(dims))], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def model_file_cases() -> list:
    sd = {k: v.contiguous() for k, v in zoo.load("digits-mlp").state_dict().items()}
    st, pt, onx = _safetensors(sd), _torch_save(sd), _onnx_pool(True)
    h = json.dumps({f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
                    for i in range(250_000)}).encode()  # ~19 MB: built before timing
    huge_header = struct.pack("<Q", len(h)) + h + bytes(4 * 250_000)
    cases = []
    for fmt, data in (("safetensors", st), ("torch.save", pt), ("onnx", onx)):
        for frac in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            n = max(1, int(len(data) * frac))
            name = f"trunc_{fmt}_{frac}.bin"
            cases.append((f"{fmt} truncated at {frac:.0%}", _load(name, lambda ctx, d=data[:n]: d),
                          name))
    rng = np.random.default_rng(0)
    for i, n in enumerate((1, 7, 9, 100, 5000)):
        name = f"garbage_{i}.bin"
        cases.append((f"random bytes ({n})", _load(name, lambda ctx, n=n: rng.bytes(n)), name))
    cases += [
        ("empty file", _load("empty.bin", lambda ctx: b""), "empty"),
        ("over the size limit", _load("big.bin", lambda ctx: st, max_bytes=100), "size limit"),
        ("complex weights", _load("complex.safetensors", lambda ctx: _safetensors(
            {k: v.to(torch.complex64) if v.is_floating_point() else v for k, v in sd.items()})),
         "complex"),
        ("NaN weights", _load("nan.safetensors", lambda ctx: _safetensors(
            {k: torch.full_like(v, float("nan")) for k, v in sd.items()})), "NaN"),
        ("unknown keys", _load("keys.safetensors", lambda ctx: _safetensors(
            {"foo.weight": torch.zeros(3)})), "no known architecture"),
        ("safetensors header length 2^40", _load("hdr.safetensors", lambda ctx: struct.pack(
            "<Q", 2**40) + b"{}"), "header"),
        ("safetensors header of 250k entries", _load("hdr250k.safetensors",
                                                     lambda ctx: huge_header), "header"),
        ("safetensors header not JSON", _load("badjson.safetensors", lambda ctx: struct.pack(
            "<Q", 10) + b"{not json}" + bytes(8)), "safetensors"),
        ("ONNX MaxPool without kernel_shape", _load("pool.onnx", lambda ctx: _onnx_pool(False),
                                                    strict=False), "kernel_shape"),
    ]
    return cases
