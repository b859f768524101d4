"""The Activity tab at research scale (issue 24): server-side time and PATCH-DOC bytes of a
cursor move, a percentile change and Run 0 -> T, with the tab open, for the built-in
digits-cnn and the 100,618-neuron VGG of tests/large_network.py (uploaded as ONNX); and the
work a hidden tab does (plot updates while the Simulation tab is open). Also the cost of
adding a membrane trace the run did not record (replay vs re-run).

    .venv/bin/python benchmarks/activity_scale.py [--models digits-cnn vgg28]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import panel as pn
import torch
from bokeh.document import Document
from bokeh.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from dashboard_speed import PatchCounter  # noqa: E402

from widgets import activity  # noqa: E402
from widgets.dashboard import Dashboard  # noqa: E402
from widgets.session import Session  # noqa: E402

ACTIVITY = 1  # the Activity tab's index


def patch_bytes(events: list) -> int:
    """Bytes of ``events`` as one PATCH-DOC message: its JSON and its binary buffers (a
    buffer's ``len`` counts array items, not bytes: ``nbytes``)."""
    msg = Protocol().create("PATCH-DOC", events)
    return len(msg.header_json) + len(msg.content_json) + sum(
        memoryview(b.data).nbytes for b in msg.buffers)


class Patches(PatchCounter):
    def flush(self) -> None:
        if self.events:
            self.bytes.append(patch_bytes(self.events))
        self.events.clear()


def session(name: str) -> Session:
    if name != "vgg28":
        return Session(model=name)
    from large_network import onnx_bytes, trained_vgg28

    s = Session()
    s.load_upload(onnx_bytes(trained_vgg28()), "vgg28.onnx")
    return s


def timed(pc: Patches, fn) -> tuple[float, int]:
    """Seconds of ``fn()`` plus serializing its patch, and the patch's bytes."""
    pc.flush()
    pc.bytes.clear()
    t0 = time.perf_counter()
    fn()
    pc.flush()
    return time.perf_counter() - t0, (pc.bytes[-1] if pc.bytes else 0)


def count_updates(view) -> list[int]:
    calls = [0]
    update = view._update

    def counted(changed):
        calls[0] += 1
        update(changed)
    view._frame_fns[view._frame_fns.index(update)] = counted
    return calls


def bench(name: str) -> None:
    s = session(name)
    dash = Dashboard(s)
    dash.tabs.active = ACTIVITY
    doc = Document()
    t0 = time.perf_counter()
    doc.add_root(pn.panel(dash).get_root(doc))
    print(f"\n{name}: {sum(s.net.n_neurons):,} neurons, T = {s.timesteps}; Activity tab "
          f"rendered in {time.perf_counter() - t0:.2f} s; scatter "
          f"{'aggregated' if dash.activity.aggregated else 'dots'}")
    pc = Patches(doc)
    s.t = 10
    moves = [timed(pc, lambda t=t: setattr(s, "t", t)) for t in range(11, 31)]
    print(f"  cursor move: median {1e3 * statistics.median(m[0] for m in moves):.0f} ms, "
          f"median {statistics.median(m[1] for m in moves) / 1e3:.0f} kB, max "
          f"{max(m[1] for m in moves) / 1e3:.0f} kB")
    changes = [timed(pc, lambda p=p: setattr(s, "percentile", p))
               for p in (99.0, 99.9, 99.0, 99.9)]  # the first two convert, then cached
    print("  percentile change: " + ", ".join(f"{1e3 * c[0]:.0f} ms / {c[1] / 1e3:.0f} kB"
                                               for c in changes)
          + " (first two convert, then cached)")
    s.t = 0
    pc.flush()
    pc.bytes.clear()
    t0 = time.perf_counter()
    while s.advance(1):
        pc.flush()
    wall = time.perf_counter() - t0
    print(f"  Run 0 -> {s.timesteps} (one step per frame, as fast as it goes): {wall:.2f} s, "
          f"{1e3 * wall / s.timesteps:.0f} ms a frame, median "
          f"{statistics.median(pc.bytes) / 1e3:.0f} kB, max {max(pc.bytes) / 1e3:.0f} kB")
    # hidden: the Simulation tab open, the Activity view told so (as the dashboard would)
    calls = count_updates(dash.activity)
    dash.tabs.active = 0
    dash.activity.on_screen = False
    for t in range(1, 21):
        s.t = t
    hidden = calls[0]
    dash.activity.on_screen = True
    print(f"  20 cursor moves with the Activity tab hidden: {hidden} Activity updates; "
          f"shown again: {calls[0] - hidden} (one catch-up)")
    # a trace the run did not record: replay vs the re-run it replaces
    layer = 0
    missing = next((i for i in range(s.net.n_neurons[layer]) if s.membrane_of(layer, i) is None),
                   None)
    if missing is None:
        print("  (every membrane recorded: no trace to replay)")
        return
    t0 = time.perf_counter()
    s.add_trace(layer, missing)
    replay = time.perf_counter() - t0
    t0 = time.perf_counter()
    s.recompute()
    rerun = time.perf_counter() - t0
    print(f"  trace a neuron not recorded (layer {s.layer_names[layer]}): add_trace "
          f"{1e3 * replay:.0f} ms (replay) vs recompute {1e3 * rerun:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["digits-cnn", "vgg28"])
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the app
    print(f"scatter aggregated above {activity.SCATTER_POINTS:,} neurons")
    for name in args.models:
        bench(name)


if __name__ == "__main__":
    main()
