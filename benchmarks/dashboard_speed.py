"""Dashboard speed, server side: parameter change -> all plots updated, and Run frame rate.

Builds the served dashboard's Bokeh models in a Document (as `panel serve` does for a browser
session, Simulation tab visible), then times, for the default model, one sample, T = 100:

- change: a parameter change (percentile, threshold, encoding, sample; cycled) until every
  visible plot has recomputed and updated its Bokeh models, and the document changes are
  serialized into the PATCH-DOC message a browser would receive; median over the changes.
  The first visit of a parameter set includes conversion; revisits hit the per-session cache.
- run: one animation frame of Run at one step per frame (cursor +1 step, every visible view
  updated, PATCH-DOC serialized); the rendered steps per second are 1 / median frame time.
  Then a real-time Run: `Session.tick` called at its animation period for T steps, reporting
  the steps/s the cursor actually advanced and the frames rendered (Run advances by elapsed
  time, so it skips steps instead of slowing down when frames are late).

Targets (issue 4): change <= 100 ms median, Run >= 20 rendered steps/s.
Usage: python benchmarks/dashboard_speed.py [--repeats N] [--frames N] [--threads K]
"""

from __future__ import annotations

import argparse
import statistics
import time

import panel as pn
import torch
from bokeh.document import Document
from bokeh.protocol import Protocol

from widgets import Dashboard


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the parameter cycle")
    ap.add_argument("--frames", type=int, default=99, help="Run frames to time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the app uses 1)")
    ap.add_argument("--speed", type=int, default=100, help="speed (steps/s) of the real-time Run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    dash = Dashboard()
    s = dash.session
    doc = Document()
    doc.add_root(pn.panel(dash).get_root(doc))  # as a served session: changes become events
    patches = PatchCounter(doc)
    print(f"model {s.model}, data {s.dataset}, T = {s.timesteps}, layers {s.layer_names}")
    s.t = 50  # warm-up: first renders
    s.t = 0
    patches.flush()

    changes = [("percentile", v) for v in (99.0, 99.5, 99.99, "max", 99.9)]
    changes += [("threshold", 0.8), ("threshold", 1.0), ("encoding", "poisson"),
                ("encoding", "analog"), ("sample", 1), ("sample", 0)]
    times = []
    s.t = 20
    patches.flush()
    patches.bytes.clear()
    for _ in range(args.repeats):
        for name, value in changes:
            t0 = time.perf_counter()
            setattr(s, name, value)
            patches.flush()
            times.append(time.perf_counter() - t0)
            assert not s.error, s.error
    first = times[: len(changes)]
    print(f"parameter change -> plots updated: median {1e3 * statistics.median(times):.1f} ms "
          f"over {len(times)} changes (first pass, with conversions: median "
          f"{1e3 * statistics.median(first):.1f} ms, max {1e3 * max(first):.1f} ms); "
          f"median patch {statistics.median(patches.bytes) / 1e3:.0f} kB")

    frames = []
    patches.bytes.clear()
    s.t = 0
    patches.flush()
    patches.bytes.clear()
    for _ in range(min(args.frames, s.timesteps)):
        t0 = time.perf_counter()
        s.advance(1)
        patches.flush()
        frames.append(time.perf_counter() - t0)
    med = statistics.median(frames)
    print(f"Run: median frame {1e3 * med:.1f} ms -> {1 / med:.1f} rendered steps/s "
          f"(at 1 step per frame; {len(frames)} frames; median patch "
          f"{statistics.median(patches.bytes) / 1e3:.1f} kB)")

    if not hasattr(s, "_tick_due"):  # older Session: tick advances a fixed number of steps
        return
    s.speed = args.speed
    s.t = 0
    s.run = True
    patches.flush()
    period = s.period_ms() / 1000
    n_frames, t0 = 0, time.perf_counter()
    next_frame = t0
    while s.running:
        next_frame += period
        s.tick()
        patches.flush()
        n_frames += 1
        time.sleep(max(0.0, next_frame - time.perf_counter()))
    wall = time.perf_counter() - t0
    print(f"real-time Run at speed {args.speed} steps/s, {1e3 * period:.0f} ms period: "
          f"{s.timesteps} steps in {wall:.2f} s = {s.timesteps / wall:.1f} steps/s, "
          f"{n_frames} frames")


if __name__ == "__main__":
    main()
