"""Dashboard speed, server side: parameter change -> all plots updated, and Run frame rate.

Builds the served dashboard's Bokeh models in a Document (as `panel serve` does for a browser
session, Simulation tab visible), then times, for the default model, one sample, T = 100:

- change: a parameter change (percentile, threshold, encoding, sample; cycled) until every
  visible plot has recomputed and updated its Bokeh models; median over the changes. The
  first visit of a parameter set includes conversion; revisits hit the per-session cache.
- run: one animation frame of Run (cursor +1 step, every visible view updated); the
  rendered steps per second are 1 / median frame time (Run ticks every 50 ms at most).

Targets (issue 4): change <= 100 ms median, Run >= 20 rendered steps/s.
Usage: python benchmarks/dashboard_speed.py [--repeats N] [--threads K]
"""

from __future__ import annotations

import argparse
import statistics
import time

import panel as pn
import torch
from bokeh.document import Document

from widgets import Dashboard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the parameter cycle")
    ap.add_argument("--frames", type=int, default=99, help="Run frames to time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the app uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    dash = Dashboard()
    s = dash.session
    doc = Document()
    pn.panel(dash).get_root(doc)
    print(f"model {s.model}, data {s.dataset}, T = {s.timesteps}, layers {s.layer_names}")
    s.t = 50  # warm-up: JIT of Datashader, first renders
    s.t = 0

    changes = [("percentile", v) for v in (99.0, 99.5, 99.99, "max", 99.9)]
    changes += [("threshold", 0.8), ("threshold", 1.0), ("encoding", "poisson"),
                ("encoding", "analog"), ("sample", 1), ("sample", 0)]
    times = []
    s.t = 20
    for _ in range(args.repeats):
        for name, value in changes:
            t0 = time.perf_counter()
            setattr(s, name, value)
            times.append(time.perf_counter() - t0)
            assert not s.error, s.error
    first = times[: len(changes)]
    print(f"parameter change -> plots updated: median {1e3 * statistics.median(times):.1f} ms "
          f"over {len(times)} changes (first pass, with conversions: median "
          f"{1e3 * statistics.median(first):.1f} ms, max {1e3 * max(first):.1f} ms)")

    frames = []
    s.speed = 20
    s.t = 0
    s.running = True
    for _ in range(min(args.frames, s.timesteps)):
        t0 = time.perf_counter()
        s.tick()
        frames.append(time.perf_counter() - t0)
    med = statistics.median(frames)
    print(f"Run: median frame {1e3 * med:.1f} ms -> {1 / med:.1f} rendered steps/s "
          f"(at 1 step per frame; {len(frames)} frames)")


if __name__ == "__main__":
    main()
