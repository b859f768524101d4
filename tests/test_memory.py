"""Bounded memory: a run keeps what was asked for, and refuses an over-budget one up front.

What grows with the number of steps T is what ``record`` asks for (spike trains, membranes of
the chosen neurons) plus the always-kept output counts and per-layer totals; the simulation
itself works in blocks of steps of bounded size (:mod:`spikescope.sim.layerwise`). A run
whose recording would pass ``RECORD_BUDGET_BYTES`` raises before it allocates anything.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import spikescope as ss
from spikescope.errors import ResourceLimitError
from spikescope.sim import network

T = 40


@pytest.fixture(scope="module")
def cnn(digits, digits_cnn):
    return ss.convert(digits_cnn, digits[0][:200])


def kept_bytes(net) -> int:
    """Bytes the recorder of the last run holds in chunks that grow with T."""
    r = net.run_state.recorder
    lists = [r._out_counts, r._out_v, r._layer_stats, *r._trains, *r._mem]
    return sum(t.numel() * t.element_size() for chunks in lists for t in chunks)


@pytest.mark.parametrize("record", [(), ("spikes",), ("membrane",), ("spikes", "membrane")])
def test_budget_counts_everything_a_run_keeps(cnn, digits, record):
    """The budget's count covers every T-growing tensor the recorder keeps (and is not far
    above it); recording nothing still keeps output counts and per-layer totals."""
    x = digits[0][:5]
    need = cnn.check_record_budget(T, 5, record)
    cnn.run(x, T, record=record)
    kept = kept_bytes(cnn)
    assert kept <= need <= 1.1 * kept + 1024, (record, kept, need)
    assert cnn.check_record_budget(T, 5, record, encoding="poisson") == \
        need + T * 5 * 64 * 4  # Poisson frames: one float per input pixel and step


def test_recording_more_costs_more(cnn):
    sizes = [cnn.check_record_budget(1000, 8, r)
             for r in [(), ("spikes",), ("spikes", "membrane")]]
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[1] - sizes[0] == 1000 * 8 * sum(cnn.n_neurons)  # one byte per spike
    some = cnn.check_record_budget(1000, 8, ("membrane",), neurons={0: [1, 2, 3]})
    assert some - sizes[0] == 1000 * 8 * 3 * 4


def test_over_budget_run_raises_before_allocating(monkeypatch, cnn, digits):
    """The error names the size and how to record less, and comes before the input is
    encoded or the run is reset (the previous run's state is untouched)."""
    x = digits[0][:4]
    cnn.run(x, 5)
    before = cnn.run_state
    monkeypatch.setattr(network, "RECORD_BUDGET_BYTES", 1 << 20)

    def no_encoding(*_, **__):
        raise AssertionError("the input was encoded before the budget was checked")

    monkeypatch.setattr(network, "encode", no_encoding)
    with pytest.raises(ResourceLimitError) as err:
        cnn.run(x, 5000)  # spikes and membranes: ~300 MB
    msg = str(err.value)
    assert "GiB" in msg and "record=()" in msg and "RECORD_BUDGET_BYTES" in msg
    with pytest.raises(ResourceLimitError):
        cnn.run(x, 5000, record=("spikes",))
    with pytest.raises(ResourceLimitError):  # the always-kept parts count too
        cnn.run(x, 50_000, record=())
    assert cnn.run_state is before


RSS_SCRIPT = textwrap.dedent("""
    import json, resource, torch
    import spikescope as ss
    from spikescope import datasets, zoo
    from spikescope.sim import layerwise
    torch.set_num_threads(1)
    x = datasets.load("digits", "train")[0]
    net = ss.convert(zoo.load("digits-cnn"), x[:200])
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    page = resource.getpagesize()
    now = lambda: int(open("/proc/self/statm").read().split()[1]) * page
    xb = x[:4]
    t0 = max(2000, 2 * layerwise.block_size(net, 10**5, 4))  # full-size blocks: the
    t1 = max(10_000, 4 * t0)                                  # largest working set of a run
    net.run(xb, t0, record=())
    net.run(xb, t0, record=())
    p0 = peak()
    rec = net.run(xb, t1, record=())
    p1 = peak()
    assert rec.output_counts.shape == (t1, 4, 10)
    counts = [c.sum().item() for c in rec.spike_counts]
    del rec
    r1 = now()
    rec = net.run(xb, t1, record=("spikes",))
    p2 = now() - r1  # held by the recording
    trains = sum(t.numel() for t in rec.spike_trains)
    print(json.dumps({"p0": p0, "p1": p1, "p2": p2, "trains": trains, "counts": counts}))
""")


def test_peak_memory_does_not_grow_with_steps_when_recording_nothing():
    """In a fresh process: 10,000 steps (or more) recording nothing peak at about the memory
    of a quarter of them (generous margin: a quarter of what the spike trains alone would
    take), while a recording of the spike trains holds their size."""
    # glibc: allocations above 64 KiB are mapped and unmapped when freed, so the peak RSS
    # follows live memory and not what the heap allocator happens to keep
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT], capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    trains = m["trains"]  # one byte per neuron, step and sample
    assert min(m["counts"]) > 0, "the network did not spike: nothing was measured"
    assert m["p1"] - m["p0"] < 0.25 * trains, \
        f"recording nothing grew the peak by {(m['p1'] - m['p0']) / 2**20:.0f} MiB over T"
    assert m["p2"] >= 0.9 * trains, "the recorded spike trains should hold their size"


def test_recording_is_joined_once(cnn, digits):
    """Reading the recording twice gives the same tensors without joining them again."""
    torch.manual_seed(0)
    cnn.run(digits[0][:2], T, record=("spikes",))
    a, b = cnn.recording, cnn.recording
    assert all(u is v for u, v in zip(a.spike_trains, b.spike_trains))
