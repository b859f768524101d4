"""Dashboard speed and memory at research scale (issue 24's table), server side.

Builds the served dashboard's Bokeh models in a Document (as `panel serve` does for a browser
session, Simulation tab open; changes are serialized into the PATCH-DOC message a browser would
receive) and, for each model, measures:

- percentile -> views + patch: a percentile change until every visible view has updated and
  its patch is serialized; "new" visits a percentile for the first time (conversion included),
  "cached" revisits one (the session's network cache); medians.
- Step: one Step (cursor +1, views updated, patch serialized); median over ``--steps``.
- Run T steps at 25/s: ``Session.tick`` called at its animation period until T, wall time
  (ideal T / 25 s).
- Evaluate N samples: ``Session.evaluate`` (blocking) on the first ``--eval-samples`` test
  samples, wall time.
- server RSS after load -> after evaluation (this process; the session then holds the
  networks converted for the percentile changes, its run and the evaluation: "held", by
  ``Session.memory_bytes``) -> after ``Session.close`` (what the app does when the page closes).

Models: digits-cnn (zoo, 3,146 neurons), ``mid`` (a VGG for 1x28x28 with conv widths
20-40-80-80, 31,498 neurons) and ``vgg`` (tests/large_network.py, 100,618 neurons); the last two
are trained briefly on digits28 (as tests/large_network.py does), exported to ONNX and
uploaded into the session as a user would. The browser-side slider latency is
benchmarks/browser_latency.py's.

Usage: python benchmarks/dashboard_speed.py [--models digits-cnn,mid,vgg] [--steps 20]
       [--eval-samples 360] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import panel as pn
import psutil
import torch
from bokeh.document import Document
from bokeh.protocol import Protocol
from torch import nn

from widgets import Dashboard
from widgets.catalog import release_memory

# after the packages: tests/ holds a tests/widgets folder
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from large_network import onnx_bytes, train_digits28, trained_vgg28  # noqa: E402

PERCENTILES = (99.0, 99.5, 99.99, "max")  # then back to each: cached


class PatchCounter:
    """Collects a Document's change events and serializes them as one PATCH-DOC message."""

    def __init__(self, doc: Document):
        self.events: list = []
        self.bytes: list[int] = []
        doc.on_change(self.events.append)

    def flush(self) -> None:
        if self.events:
            msg = Protocol().create("PATCH-DOC", self.events)
            size = len(msg.header_json) + len(msg.content_json)
            self.bytes.append(size + sum(len(b.data) for b in msg.buffers))
        self.events.clear()


def mid_vgg(steps: int = 60, batch: int = 32) -> nn.Sequential:
    """The mid-sized network: tests/large_network.vgg28 with conv widths 20-40-80-80 (31,498
    neurons), trained like it (Adam, ``steps`` batches of digits28)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 20, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(20, 40, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(40, 80, 3, padding=1), nn.ReLU(),
        nn.Conv2d(80, 80, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(80 * 3 * 3, 128), nn.ReLU(), nn.Linear(128, 10))
    return train_digits28(model, steps, batch)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def timed(fn, patches: PatchCounter) -> float:
    t0 = time.perf_counter()
    fn()
    patches.flush()
    return time.perf_counter() - t0


def measure(name: str, args) -> dict:
    """One row of the table for model ``name``."""
    release_memory()
    dash = Dashboard()
    s = dash.session
    doc = Document()
    doc.add_root(pn.panel(dash).get_root(doc))
    patches = PatchCounter(doc)
    if name in ("mid", "vgg"):
        model = mid_vgg() if name == "mid" else trained_vgg28()
        s.load_upload(onnx_bytes(model), f"{name}.onnx")
    else:
        s.model = name
    assert not s.error, s.error
    patches.flush()
    release_memory()
    rss_load = rss_mb()
    s.t = 10  # warm-up: first renders
    patches.flush()

    new, cached = [], []
    for p in (*PERCENTILES, 99.9):
        new.append(timed(lambda p=p: setattr(s, "percentile", p), patches))
    n_new = len(patches.bytes)
    for p in (*PERCENTILES, 99.9):
        cached.append(timed(lambda p=p: setattr(s, "percentile", p), patches))
    assert not s.error, s.error
    kb = [b / 1e3 for b in patches.bytes]

    s.t = 0
    patches.flush()
    steps = [timed(lambda: setattr(s, "step", True), patches) for _ in range(args.steps)]

    s.speed, s.t = 25, 0
    patches.flush()
    s.run = True
    period = s.period_ms() / 1000
    t0 = time.perf_counter()
    next_frame = t0
    while s.running:
        next_frame += period
        s.tick()
        patches.flush()
        time.sleep(max(0.0, next_frame - time.perf_counter()))
    run_s = time.perf_counter() - t0

    s.eval_samples = args.eval_samples
    t0 = time.perf_counter()
    s.evaluate(blocking=True)
    eval_s = time.perf_counter() - t0
    assert s.evaluation is not None, s.error
    rss_eval = rss_mb()
    row = {"model": name, "neurons": sum(s.net.n_neurons), "T": s.timesteps,
           "pct_new_ms": 1e3 * statistics.median(new), "pct_cached_ms":
           1e3 * statistics.median(cached), "patch_kb": statistics.median(kb[:n_new]),
           "patch_cached_kb": statistics.median(kb[n_new:]),
           "step_ms": 1e3 * statistics.median(steps), "run_s": run_s,
           "eval_s": eval_s, "rss_load": rss_load, "rss_eval": rss_eval,
           "cached_mb": s.memory_bytes() / 2**20}
    s.close()
    release_memory()
    row["rss_closed"] = rss_mb()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits-cnn,mid,vgg")
    ap.add_argument("--steps", type=int, default=20, help="Steps to time")
    ap.add_argument("--eval-samples", type=int, default=360)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the app uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| model | neurons | server: percentile -> views + patch (new / cached) | Step | "
          f"Run T steps at 25/s | Evaluate {args.eval_samples} samples | "
          "RSS after load -> after evaluation (held) -> after close |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        r = measure(name, args)
        print(f"| {r['model']} | {r['neurons']:,} | {r['pct_new_ms']:.0f} / "
              f"{r['pct_cached_ms']:.0f} ms ({r['patch_kb']:.0f} / {r['patch_cached_kb']:.0f}"
              f" kB) | {r['step_ms']:.0f} ms | {r['run_s']:.1f} s (T = {r['T']}, ideal "
              f"{r['T'] / 25:.1f}) | {r['eval_s']:.1f} s | {r['rss_load']:.0f} -> "
              f"{r['rss_eval']:.0f} MB ({r['cached_mb']:.0f} MB) -> {r['rss_closed']:.0f} MB |",
              flush=True)


if __name__ == "__main__":
    main()
