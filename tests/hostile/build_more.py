"""Corpus classes for event files, jet files, run/convert parameters and sweep files
(see :mod:`tests.hostile.build_models` for the case format)."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct

import numpy as np

import spikescope as ss
from spikescope import zoo
from spikescope.data import events as ev_mod
from spikescope.data import jets
from spikescope.errors import SweepError

from .build_data import _SHARED, _net, _path


# ------------------------------------------------------------------------------ events
def _aedat(ctx) -> bytes:
    ev = ev_mod.make_events([1, 2, 3], [1, 2, 3], [0, 1, 0], [10, 20, 30])
    p = os.path.join(ctx["tmp"], "ok.aedat4")
    ev_mod.write_aedat4(p, ev)
    return open(p, "rb").read()


def _aedat_case(name, mutate, phrase="aedat"):
    def fn(ctx):
        ev_mod.read_aedat4(_path(ctx, "case.aedat4", mutate(_aedat(ctx))))
    return (f"AEDAT4: {name}", fn, phrase)


def _packet_start(data: bytes) -> int:
    n = struct.unpack("<I", data[14:18])[0]
    return 18 + n


def event_cases() -> list:
    cases = []
    for n in (1, 2, 3, 4, 6, 9, 11):
        cases.append((f"N-MNIST of {n} bytes", lambda ctx, n=n: ev_mod.read_nmnist(
            _path(ctx, "t.bin", bytes(range(n)))), "t.bin"))
    for x, y in ((200, 1), (1, 200), (34, 0), (0, 34)):
        raw = ev_mod.encode_nmnist(ev_mod.make_events([0], [0], [1], [5]))
        b = bytearray(raw)
        b[0], b[1] = x, y
        cases.append((f"N-MNIST event at ({x}, {y})", lambda ctx, b=bytes(b): ev_mod.read_nmnist(
            _path(ctx, "o.bin", b)), "outside"))
    cases += [
        _aedat_case("bad magic", lambda d: b"#!AER-DAT3.1\r\n" + d[14:]),
        _aedat_case("only the magic", lambda d: d[:14]),
        _aedat_case("header length 2^32-1", lambda d: d[:14] + b"\xff\xff\xff\xff" + d[18:]),
        _aedat_case("zero-filled body", lambda d: d[:_packet_start(d)] + bytes(
            len(d) - _packet_start(d))),
        _aedat_case("packet of size 0", lambda d: d[:_packet_start(d) + 4] + b"\0\0\0\0"
                    + d[_packet_start(d) + 8:]),
        _aedat_case("packet size 2^31", lambda d: d[:_packet_start(d) + 4] + struct.pack(
            "<I", 2**31) + d[_packet_start(d) + 8:]),
        _aedat_case("random header", lambda d: d[:18] + np.random.default_rng(1).bytes(
            _packet_start(d) - 18) + d[_packet_start(d):]),
        _aedat_case("random body", lambda d: d[:_packet_start(d)] + np.random.default_rng(
            2).bytes(200)),
    ]
    for frac in (0.3, 0.6, 0.95):
        cases.append(_aedat_case(f"truncated at {frac:.0%}", lambda d, f=frac: d[:int(
            len(d) * f)]))
    return cases


# ------------------------------------------------------------------------------ jets
def _csv(rows: int = 40, header=None, value="1.0", label=None) -> str:
    cols = list(jets.FEATURES) + [jets.LABEL] if header is None else header
    lines = [",".join(cols)]
    for i in range(rows):
        lines.append(",".join([value] * len(jets.FEATURES) + [label or jets.CLASSES[i % 5]]))
    return "\n".join(lines) + "\n"


def _arff(body: str = "1,2\n") -> str:
    head = "@relation jets\n" + "".join(f"@attribute {f} numeric\n" for f in jets.FEATURES)
    return head + "@attribute class {g,q,w,z,t}\n@data\n" + body


def _jets_case(name, fname, data_fn, phrase=None):
    def fn(ctx):
        jets.load_jets(_path(ctx, fname, data_fn()))
    return (f"jets: {name}", fn, phrase or fname)


def jets_cases() -> list:
    good_gz = gzip.compress(_csv().encode())
    cases = [
        _jets_case("ARFF not UTF-8", "latin.arff", lambda: _arff().encode() + b"\xff\xfe\xff"
                   + b"\n"),
        _jets_case("ARFF header not UTF-8", "latin2.arff", lambda: b"@relation \xe9t\xe9\n"),
        _jets_case("CSV not UTF-8", "latin.csv", lambda: _csv().encode() + b"\xff\xff,\xfe\n"),
        _jets_case("too few rows", "few.csv", lambda: _csv(5), "rows"),
        _jets_case("one row", "one.csv", lambda: _csv(1), "rows"),
        _jets_case("no rows", "none.csv", lambda: _csv(0)),
        _jets_case("empty file", "empty.csv", lambda: b""),
        _jets_case("missing column", "miss.csv", lambda: _csv(header=list(jets.FEATURES[1:])
                                                              + [jets.LABEL]), "zlogz"),
        _jets_case("unknown label", "lab.csv", lambda: _csv(label="x"), "label"),
        _jets_case("text value", "txt.csv", lambda: _csv(value="abc"), "zlogz"),
        _jets_case("NaN value", "nan.csv", lambda: _csv(value="nan"), "zlogz"),
        _jets_case("sparse ARFF", "sparse.arff", lambda: _arff("{0 1}\n"), "sparse"),
        _jets_case("ARFF without @data", "nodata.arff", lambda: "@relation x\n", "@data"),
        _jets_case("ARFF bad line", "bad.arff", lambda: "@relation x\n@bogus y\n"),
        _jets_case("gzip garbage", "garbage.csv.gz", lambda: b"\x1f\x8b" + bytes(50)),
    ]
    for frac in (0.2, 0.5, 0.9):
        cases.append(_jets_case(f"truncated .csv.gz at {frac:.0%}", f"t{frac}.csv.gz",
                                lambda f=frac: good_gz[:int(len(good_gz) * f)]))
    return cases


# ------------------------------------------------------------------------------ parameters
def _convert(**kw):
    def fn(ctx):
        from spikescope.data import datasets
        x, _ = datasets.load("digits", "test")
        calib = kw.pop("calibration", x[:16])
        ss.convert(zoo.load("digits-mlp"), calib, **kw)
    return fn


def _run(timesteps, **kw):
    def fn(ctx):
        _net().run(_SHARED["x"], timesteps, **kw)
    return fn


def _over_budget(ctx):
    from spikescope.sim import network
    old = network.RECORD_BUDGET_BYTES
    network.RECORD_BUDGET_BYTES = 1 << 20  # the mechanism, at a size a test can afford
    try:
        _net().run(_SHARED["x"], 5000)
    finally:
        network.RECORD_BUDGET_BYTES = old


def parameter_cases() -> list:
    _net()  # built once, before the cases are timed
    cases = []
    for t in (float("nan"), None, "10", 0, -1, 1.5, float("inf"), [10], True):
        cases.append((f"run timesteps={t!r}", _run(t), "timesteps"))
    for name, values in (("threshold", ("1", 0, -1.0, float("nan"), None, [1.0])),
                         ("leak", (0, 2.0, "x", float("nan"))),
                         ("percentile", ("99", 0, 101, float("nan"), [99.0], "max")),
                         ("refractory", (1.5, -1, "2", float("nan"))),
                         ("bits", (0, "8", 2.5)),
                         ("device", ("cuda:7", "cdua", "tpu", 123, "cpu:x")),
                         ("code", ("nope", "")), ("reset", ("nope", 3)),
                         ("neuron", ("nope",))):
        for v in values:
            cases.append((f"convert {name}={v!r}", _convert(**{name: v}), name))
    for what, calib in (("strings", [["a", "b"]]), ("empty", np.zeros((0, 1, 8, 8))),
                        ("NaN", np.full((2, 1, 8, 8), np.nan)), ("no batch dim", np.zeros(3)),
                        ("complex", np.zeros((2, 1, 8, 8), complex)), ("None", None)):
        cases.append((f"convert calibration {what}", _convert(calibration=calib), "calibration"))
    cases += [
        ("run encoding='nope'", _run(5, encoding="nope"), "nope"),
        ("run record=('voltage',)", _run(5, record=("voltage",)), "record"),
        ("run over the recording budget", _over_budget, "budget"),
    ]
    return cases


# ------------------------------------------------------------------------------ sweeps
def _sweep_file(name, text):
    def fn(ctx):
        from spikescope.sweep import Sweep
        Sweep.from_file(_path(ctx, name, text))
    return fn


def _cli(name, text, *extra):
    def fn(ctx):
        from spikescope import cli
        p = _path(ctx, name, text) if text is not None else os.path.join(ctx["tmp"], name)
        if text is None:
            os.makedirs(p, exist_ok=True)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = cli.main(["sweep", p, "--workers", "0", "--no-progress", *extra])
        lines = err.getvalue().strip().splitlines()
        if rc == 1 and len(lines) == 1 and "Traceback" not in err.getvalue():
            raise SweepError(f"CLI exit 1, one line: {lines[0]}")  # the expected outcome
        raise AssertionError(f"CLI exit {rc} with {len(lines)} lines: {err.getvalue()[-300:]}")
    return fn


SWEEP_FILES = {
    "yaml syntax error": ("a.yaml", "model: [digits-mlp\n", "syntax"),
    "toml syntax error": ("a.toml", "model = \n", "syntax"),
    "grid a list": ("b.yaml", "grid: [1, 2]\n", "grid"),
    "grid values a mapping": ("c.yaml", "grid: {T: [{a: 1}]}\n", "T"),
    "model a number": ("d.yaml", "model: 3\n", "model"),
    "model a list": ("e.yaml", "model: [a, b]\n", "model"),
    "unknown field": ("f.yaml", "modle: digits-mlp\n", "modle"),
    "file a list": ("g.yaml", "- 1\n- 2\n", "mapping"),
    "percentile text": ("h.yaml", "grid: {percentile: [high]}\n", "percentile"),
    "T zero": ("i.yaml", "grid: {T: [0]}\n", "timesteps"),
    "T text": ("j.yaml", "grid: {T: [ten]}\n", "timesteps"),
    "seed text": ("k.yaml", "seed: abc\n", "seed"),
    "eval_size a list": ("l.yaml", "eval_size: [1]\n", "eval_size"),
    "unknown code": ("m.yaml", "grid: {code: [nope]}\n", "nope"),
    "unknown model": ("n.yaml", "model: nope\n", "nope"),
    "grid of 10^6 points": ("o.yaml", "grid: {T: [" + ", ".join(map(str, range(1, 1001)))
                            + "], percentile: [" + ", ".join(f"{90 + i / 100}" for i in range(
                                1000)) + "]}\n", "max-points"),
    "wrong suffix": ("p.txt", "model: digits-mlp\n", ".yaml"),
    "not UTF-8": ("q.yaml", b"model: \xff\xfe\n", "UTF-8"),
}


def sweep_cases() -> list:
    cases = []
    for what, (name, text, phrase) in SWEEP_FILES.items():
        cases.append((f"sweep file: {what}", _sweep_file(name, text), phrase))
        cases.append((f"sweep CLI: {what}", _cli("cli_" + name, text), phrase))
    cases.append(("sweep file: a directory", _sweep_file("dir.yaml", None) if False else
                  (lambda ctx: _sweep_dir(ctx)), "directory"))
    cases.append(("sweep CLI: a directory", _cli("dir2.yaml", None), "directory"))
    return cases


def _sweep_dir(ctx):
    from spikescope.sweep import Sweep
    p = os.path.join(ctx["tmp"], "dir.yaml")
    os.makedirs(p, exist_ok=True)
    Sweep.from_file(p)
