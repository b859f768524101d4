"""Hostile inputs (issue 20): a generated corpus of bad inputs per class, each case run in a
subprocess under an address-space limit (1 GiB over what the imports use) and timed; every case
must end in spikescope's own exception (``SpikescopeError``) whose message names the input or
field, within 10 s; the pickle and TorchScript payloads write a marker file if they ever run.

The classes are run a few per subprocess (``tests/hostile/run_corpus.py``): importing torch
costs seconds, so one process per case would be far too slow.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikescope import io as sio
from spikescope import zoo
from spikescope.data import events as ev_mod
from spikescope.errors import SpikescopeError, UnsafeModelError
from tests.hostile.build_models import memo_payload
from tests.hostile.run_corpus import classes

ROOT = Path(__file__).resolve().parents[1]
GROUPS = [["pickle", "torchscript", "zip", "model files"], ["nir", "runs"],
          ["parameters", "sweep", "events", "jets"]]
CLASSES = [c for g in GROUPS for c in g]
MAX_SECONDS = 10.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    markers = d / "markers"
    markers.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    todo, running, done = list(enumerate(GROUPS)), [], {}
    width = max(1, min(2, os.cpu_count() or 1))
    while todo or running:
        while todo and len(running) < width:
            i, g = todo.pop(0)
            out = d / f"group{i}.json"
            p = subprocess.Popen([sys.executable, "-m", "tests.hostile.run_corpus", str(out),
                                  str(markers), *g], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            running.append((g, out, p))
        g, out, p = running.pop(0)
        log = p.communicate(timeout=600)[0].decode(errors="replace")
        done[tuple(g)] = (p.returncode, out, log)
    results, crashed = [], {}
    for g, (rc, out, log) in done.items():
        if rc != 0 or not out.exists():
            crashed[g] = f"exit {rc}: {log[-2000:]}"
        else:
            results += json.loads(out.read_text())
    return {"results": results, "crashed": crashed, "markers": markers}


def test_every_class_ran_to_the_end(corpus):
    assert not corpus["crashed"], corpus["crashed"]


def test_corpus_covers_every_class_with_enough_cases(corpus):
    assert set(CLASSES) == set(classes())
    counts = {c: sum(r["class"] == c for r in corpus["results"]) for c in CLASSES}
    assert sum(counts.values()) >= 200, counts
    assert all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize("cls", CLASSES)
def test_each_case_ends_in_a_clear_own_error(corpus, cls):
    cases = [r for r in corpus["results"] if r["class"] == cls]
    assert cases, f"no results for {cls}"
    bad = []
    for r in cases:
        if r["outcome"] != "own":
            bad.append(f"{r['name']}: {r['outcome']} {r.get('type')}: {r.get('message', '')[:200]}"
                       f"\n{r.get('trace', '')}")
        elif r["phrase"].lower() not in r["message"].lower():
            bad.append(f"{r['name']}: message does not name {r['phrase']!r}: {r['message'][:300]}")
        elif r["seconds"] > MAX_SECONDS:
            bad.append(f"{r['name']}: took {r['seconds']:.1f} s")
    assert not bad, "\n".join(bad)


def test_no_payload_ever_ran(corpus):
    assert not corpus["results"] or not list(corpus["markers"].iterdir()), \
        sorted(p.name for p in corpus["markers"].iterdir())


def test_the_memo_payload_is_real_and_refused(tmp_path):
    """Plain pickle runs the memo/decoy payload; the scanner names the real global."""
    marker = tmp_path / "ran"
    data = memo_payload(str(marker))
    pickle.loads(data)
    assert marker.exists(), "the payload is not real: pickle.loads did not run it"
    marker.unlink()
    with pytest.raises(UnsafeModelError, match="os.system"):
        sio.scan_pickle(data)
    assert not marker.exists()


@pytest.mark.parametrize("low_byte", [0x80, 0x28])
def test_safetensors_whose_header_length_looks_like_a_pickle_loads(low_byte):
    from safetensors.torch import save

    sd = {k: v.contiguous() for k, v in zoo.load("digits-mlp").state_dict().items()}
    data = save(sd)
    n = int.from_bytes(data[:8], "little")
    pad = (low_byte - n) % 256
    header = data[8:8 + n] + b" " * pad  # safetensors allows trailing spaces in the header
    data = (n + pad).to_bytes(8, "little") + header + data[8 + n:]
    assert data[0] == low_byte
    model = sio.load_model(data)
    assert model.source_format == "safetensors"


@pytest.mark.parametrize("shape", [(-1, 8, 8), (1, 0, 8), (100_000, 100_000), ("a",)])
def test_inspect_model_reports_bad_input_shapes_without_raising(shape):
    report = sio.inspect_model(zoo.load("digits-mlp"), shape)
    assert report.error and not report.convertible


def test_nmnist_with_timestamps_going_backwards_comes_back_sorted():
    ev = ev_mod.make_events([1, 2, 3], [1, 2, 3], [0, 1, 0], [300, 100, 200])
    back = ev_mod.decode_nmnist(ev_mod.encode_nmnist(ev))
    assert np.all(np.diff(back["t"]) >= 0) and sorted(back["t"]) == [100, 200, 300]


def test_errors_keep_value_error_compatibility():
    from spikescope.errors import ParameterError, SweepError
    from spikescope.registry import RegistryError

    for cls in (ParameterError, SweepError, RegistryError, sio.ModelLoadError, sio.RunFileError):
        assert issubclass(cls, SpikescopeError) and issubclass(cls, ValueError)
    assert issubclass(SweepError, RuntimeError) and issubclass(RegistryError, KeyError)
    with pytest.raises(ValueError, match="timesteps"):
        torch.manual_seed(0)
        from spikescope.codes.encoders import encode
        encode(torch.zeros(1, 4), float("nan"))
