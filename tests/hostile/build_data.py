"""Corpus classes for NIR graphs, run files, event files, jet files, parameters and sweeps
(see :mod:`tests.hostile.build_models` for the case format)."""

from __future__ import annotations

import copy
import io
import json
import os

import numpy as np

import spikescope as ss
from spikescope import io as sio
from spikescope import zoo


def _path(ctx, name: str, data: bytes | str) -> str:
    p = os.path.join(ctx["tmp"], name)
    with open(p, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return p


_SHARED: dict = {}


def _net(leak: float = 1.0):
    key = ("net", leak)
    if key not in _SHARED:
        from spikescope.data import datasets
        x, _ = datasets.load("digits", "test")
        _SHARED["x"] = x[:4]
        _SHARED[key] = ss.convert(zoo.load("digits-mlp"), x[:32], leak=leak)
    return _SHARED[key]


# ------------------------------------------------------------------------------ NIR
def _graph(leak=0.9):
    return sio.to_nir(_net(leak))


def _node(g, kind):
    return next(k for k, n in g.nodes.items() if type(n).__name__ == kind)


def _nir_case(name, mutate, phrase, **kw):
    def fn(ctx):
        g = copy.deepcopy(_graph())
        mutate(g)
        sio.from_nir(g, **kw)
    return (f"NIR: {name}", fn, phrase)


def _set(kind, field, value):
    def m(g):
        node = g.nodes[_node(g, kind)]
        old = np.asarray(getattr(node, field))
        setattr(node, field, np.full_like(old, value, dtype=np.float64) if np.ndim(value) == 0
                else np.asarray(value))
    return m


def _meta(value, node_kind=None, field=None):
    def m(g):
        if node_kind is None:
            g.metadata = value if field is None else {**(g.metadata or {}), field: value}
        else:
            n = g.nodes[_node(g, node_kind)]
            n.metadata = value if field is None else {**(n.metadata or {}), field: value}
    return m


def nir_cases() -> list:
    _graph()  # built once, before the cases are timed
    cases = [
        _nir_case("edge to a missing node", lambda g: g.edges.append(("input", "nowhere")),
                  "nowhere"),
        _nir_case("edge from a missing node", lambda g: g.edges.append(("ghost", "output")),
                  "ghost"),
        _nir_case("edge of three names", lambda g: g.edges.append(("a", "b", "c")), "edge"),
        _nir_case("1-D Affine weight", lambda g: setattr(
            g.nodes[_node(g, "Affine")], "weight", np.zeros(8)), "weight"),
        _nir_case("dt_ms >= tau", lambda g: None, "tau", dt_ms=1e6),
        _nir_case("dt_ms = 0", lambda g: None, "dt_ms", dt_ms=0),
        _nir_case("dt_ms negative", lambda g: None, "dt_ms", dt_ms=-1.0),
        _nir_case("dt_ms text", lambda g: None, "dt_ms", dt_ms="1 ms"),
        _nir_case("dt_ms NaN", lambda g: None, "dt_ms", dt_ms=float("nan")),
    ]
    for field, kind in (("tau", "LIF"), ("v_threshold", "LIF"), ("r", "LIF"),
                        ("weight", "Affine"), ("bias", "Affine")):
        for value in (float("nan"), float("inf"), -float("inf")):
            cases.append(_nir_case(f"{kind} {field} = {value}", _set(kind, field, value), field))
    for field in ("tau", "v_threshold"):
        for value in (0.0, -1.0):
            cases.append(_nir_case(f"LIF {field} = {value}", _set("LIF", field, value), field))
    for value in ("fast", -1.0, float("nan"), [1, 2], {"a": 1}):
        cases.append(_nir_case(f"graph metadata dt_ms = {value!r}", _meta(value, field="dt_ms"),
                               "dt_ms"))
    cases.append(_nir_case("graph metadata a list", _meta([1, 2]), "metadata"))
    for field, value in (("leak", 2.0), ("leak", "x"), ("leak", 0.0), ("threshold", -1.0),
                         ("threshold", "high"), ("threshold", float("inf")), ("reset", 3)):
        cases.append(_nir_case(f"node metadata {field} = {value!r}",
                               _meta(value, "LIF", field), field))
    cases.append(_nir_case("node metadata a string", _meta("oops", "LIF"), "metadata"))
    return cases


# ------------------------------------------------------------------------------ runs
def _run_arrays():
    if "run" not in _SHARED:
        net = _net()
        rec = net.run(_SHARED["x"], 5)
        buf = io.BytesIO()
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            p = sio.save_run(os.path.join(d, "r.npz"), {"model": "digits-mlp"}, rec)
            with np.load(p) as z:
                _SHARED["run"] = {k: z[k] for k in z.files}
        del buf
    return dict(_SHARED["run"])


def _meta_of(arrays):
    return json.loads(arrays["meta.json"].tobytes().decode())


def _with_meta(meta_bytes: bytes):
    def arrays():
        a = _run_arrays()
        a["meta.json"] = np.frombuffer(meta_bytes, np.uint8)
        return a
    return arrays


def _meta_change(**changes):
    a = _run_arrays()
    m = _meta_of(a)
    m.update(changes)
    return _with_meta(json.dumps(m).encode())


def _run_case(name, arrays_fn, phrase, compressed=False):
    def fn(ctx):
        p = os.path.join(ctx["tmp"], f"run_{abs(hash(name))}.npz")
        (np.savez_compressed if compressed else np.savez)(p, **arrays_fn())
        sio.load_run(p)
    return (f"run file: {name}", fn, phrase)


def run_cases() -> list:
    _run_arrays()  # built once, before the cases are timed
    def drop(key):
        def arrays():
            a = _run_arrays()
            del a[key]
            return a
        return arrays

    def reshape(key, shape_fn):
        def arrays():
            a = _run_arrays()
            a[key] = shape_fn(a[key])
            return a
        return arrays

    cases = [_run_case(f"meta.json is {txt}", _with_meta(txt.encode()), "meta.json")
             for txt in ("[]", "null", "\"run\"", "5", "true")]
    cases += [
        _run_case("meta.json not JSON", _with_meta(b"{oops"), "corrupt"),
        _run_case("meta.json not UTF-8", _with_meta(b"\xff\xfe{}"), "corrupt"),
        _run_case("no meta.json", drop("meta.json"), "meta.json"),
        _run_case("no output_counts", drop("output_counts"), "output_counts"),
        _run_case("no spike_counts/0", drop("spike_counts/0"), "spike_counts/0"),
        _run_case("1-D spike counts", reshape("spike_counts/0", lambda v: v.reshape(-1)),
                  "spike_counts/0"),
        _run_case("1-D output counts", reshape("output_counts", lambda v: v.reshape(-1)),
                  "output_counts"),
        _run_case("a 64 MiB zero array (bomb)", lambda: {**_run_arrays(), "plot/big": np.zeros(
            64 * 2**20, np.uint8)}, "decompression bomb", compressed=True),
    ]
    for field, value in (("version", 10**400), ("version", "1"), ("version", -1),
                         ("version", None), ("version", 99), ("format", "other"),
                         ("format", None), ("layer_names", "fc1"), ("layer_names", [1, 2]),
                         ("plots", {"a": 1}), ("has_trains", "yes"), ("has_membrane", 1),
                         ("params", [1]), ("summary", None), ("dt_ms", -1.0),
                         ("dt_ms", 0), ("dt_ms", "1ms"), ("dt_ms", None), ("readout", "bogus"),
                         ("readout", None), ("readout", 3)):
        cases.append(_run_case(f"meta {field} = {value!r:.20}", _meta_change(**{field: value}),
                               field if field not in ("version",) or value != 99 else "newer"))

    def not_zip(ctx):
        sio.load_run(_path(ctx, "notzip.npz", b"PK\x03\x04" + bytes(100)))

    def truncated(ctx):
        p = os.path.join(ctx["tmp"], "t.npz")
        np.savez(p, **_run_arrays())
        data = open(p, "rb").read()
        sio.load_run(_path(ctx, "trunc.npz", data[:len(data) // 2]))

    def pickled(ctx):
        p = os.path.join(ctx["tmp"], "obj.npz")
        a = _run_arrays()
        a["output_counts"] = np.array([{"a": 1}], dtype=object)
        np.savez(p, **a)
        sio.load_run(p)

    cases += [("run file: not a zip", not_zip, "notzip.npz"),
              ("run file: truncated", truncated, "trunc.npz"),
              ("run file: object array (pickle)", pickled, "obj.npz")]
    return cases
