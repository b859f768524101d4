"""Wall time of a 24-point sweep on a LocalCluster of 1 and of 2 worker processes.

Grid: percentile {99, 99.9, 100} x T {50, 100} x reset {subtract, zero} x model {digits-mlp,
digits-cnn} = 24 points, each converting the ANN (200 calibration images) and simulating all
360 test digits. Every mode writes to a fresh folder (nothing is resumed). Cluster start-up is
timed apart from the sweep itself; the numbers of every mode are checked to be identical.

    python benchmarks/sweep_scaling.py [--workers 1 2] [--eval-size 360] [--serial]

Note: timings depend on what else runs on the machine (report the load average with them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from spikescope import sweep

MEASURED = ["point_id", "accuracy", "synaptic_ops", "spikes_per_sample"]


def the_sweep(eval_size: int) -> sweep.Sweep:
    return sweep.Sweep(model="digits-mlp", name="scaling",
                       grid={"model": ["digits-mlp", "digits-cnn"],
                             "percentile": [99.0, 99.9, 100.0], "T": [50, 100],
                             "reset": ["subtract", "zero"]},
                       calibration_size=200, eval_size=eval_size, seed=0)


def timed_dask(s: sweep.Sweep, workers: int, out: Path) -> tuple[float, float, pd.DataFrame]:
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        # import torch and spikescope on every worker so the sweep time is the sweep's
        client.run(lambda: __import__("spikescope.sweep"))
        t1 = time.perf_counter()
        df = sweep.run(s, out, client=client, progress=False)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--eval-size", type=int, default=360)
    ap.add_argument("--serial", action="store_true", help="also time the in-process run")
    args = ap.parse_args()
    s = the_sweep(args.eval_size)
    n = len(s.points())
    print(f"{n}-point sweep, eval_size={args.eval_size}, cpus={os.cpu_count()}, "
          f"load average before: {os.getloadavg()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.serial:
            t0 = time.perf_counter()
            results["serial"] = sweep.run(s, Path(tmp) / "serial", workers=0, progress=False)
            dt = time.perf_counter() - t0
            print(f"in-process (no dask):  sweep {dt:6.1f} s  ({dt / n:.2f} s/point)")
        for w in args.workers:
            start, dt, df = timed_dask(s, w, Path(tmp) / f"w{w}")
            results[f"{w} workers"] = df
            print(f"{w} worker(s): start {start:5.1f} s, sweep {dt:6.1f} s  "
                  f"({dt / n:.2f} s/point, {n / dt:.2f} points/s), points in flight on "
                  f"average {df['elapsed_s'].sum() / dt:.2f} (sum of point times / wall), "
                  f"points per worker {sorted(df['worker'].value_counts().tolist())}, "
                  f"load average now: {os.getloadavg()[0]:.1f}")
    frames = [df.sort_values("point_id")[MEASURED].reset_index(drop=True)
              for df in results.values()]
    same = all(f.equals(frames[0]) for f in frames[1:])
    print("identical numbers in every mode:", same)
    if not same:
        raise SystemExit("modes disagree")


if __name__ == "__main__":
    main()
