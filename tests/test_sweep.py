"""Parameter sweeps on dask.distributed: same numbers as serial, resumable, survives a dead worker,
the CLI, and the Sweeps view."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spikescope import sweep

ROOT = Path(__file__).resolve().parents[1]
# What a point measured; everything else (worker, timings, timestamps) describes the run.
MEASURED = ["point_id", "percentile", "timesteps", "reset", "accuracy", "ann_accuracy",
            "synaptic_ops", "spikes_per_sample", "lambdas", "curve_t", "curve_accuracy",
            "curve_ops"]


def tiny(**kw):
    """An 8-point sweep on the digits MLP that takes well under a second per point."""
    args = dict(model="digits-mlp", grid={"percentile": [99.0, 100], "T": [8, 16],
                                          "reset": ["subtract", "zero"]},
                calibration_size=100, eval_size=40, seed=3, curve_points=5, platforms=["Loihi"])
    args.update(kw)
    return sweep.Sweep(**args)


def measured(df):
    cols = MEASURED + sorted(c for c in df.columns if "@" in c)
    return df.sort_values("point_id")[cols].reset_index(drop=True)


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster (single-threaded processes), shut down after the module."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def test_points_follow_the_grid_and_validate():
    s = tiny()
    pts = s.points()
    assert len(pts) == 8
    assert {(p["percentile"], p["timesteps"], p["reset"]) for p in pts} == {
        (p, t, r) for p in (99.0, 100.0) for t in (8, 16) for r in ("subtract", "zero")}
    assert len({p["point_id"] for p in pts}) == 8, "every grid point needs its own id"
    assert all(p["dataset"] == "digits" for p in pts)
    # the id depends on the seed and subset sizes, not only on the grid values
    assert tiny(seed=4).points()[0]["point_id"] != pts[0]["point_id"]
    with pytest.raises(ValueError, match="unknown model"):
        tiny(grid={"model": ["no-such-model"]})
    with pytest.raises(ValueError, match="percentile"):
        tiny(grid={"percentile": [120]})
    with pytest.raises(ValueError, match="reset"):
        tiny(grid={"reset": ["halfway"]})
    with pytest.raises(ValueError, match="unknown sweep field"):
        sweep.Sweep.from_dict({"model": "digits-mlp", "gird": {}})


def test_yaml_and_toml_declare_the_same_sweep(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "model: digits-mlp\neval_size: 30\nseed: 1\nfixed: {encoding: analog}\n"
        "grid:\n  percentile: [99.9, 100]\n  T: [10]\n")
    (tmp_path / "s.toml").write_text(
        'model = "digits-mlp"\neval_size = 30\nseed = 1\n[fixed]\nencoding = "analog"\n'
        "[grid]\npercentile = [99.9, 100]\nT = [10]\n")
    a = sweep.Sweep.from_file(tmp_path / "s.yaml")
    b = sweep.Sweep.from_file(tmp_path / "s.toml")
    assert [p["point_id"] for p in a.points()] == [p["point_id"] for p in b.points()]
    assert a.name == "s"


def test_serial_sweep_measures_what_a_direct_run_measures(tmp_path):
    import importlib.util

    import torch

    from spikescope import convert, zoo

    s = tiny(grid={"percentile": [99.0], "T": [12]})
    df = sweep.run(s, tmp_path / "out", workers=0, progress=False)
    row = df.iloc[0]
    xc, xe, ye = sweep.select_data("digits", 100, 40, 3)
    torch.manual_seed(3)
    rec = convert(zoo.load("digits-mlp"), xc, percentile=99.0).run(xe, 12, record=())
    assert row["accuracy"] == pytest.approx(float(rec.accuracy_curve(ye)[-1]))
    assert row["synaptic_ops"] == pytest.approx(float(rec.synaptic_ops[-1]))
    assert row["spikes_per_sample"] == pytest.approx(float(rec.total_spikes.float().mean()))
    assert list(row["curve_t"])[-1] == 12 and len(row["curve_t"]) == 5
    if importlib.util.find_spec("spikescope.energy") is not None:
        from spikescope import energy

        edp = energy.tradeoff(rec, ye, "Loihi")["edp_js"].iloc[-1]
        assert row["edp_js@Loihi"] == pytest.approx(edp)
    else:  # without the energy module a sweep still runs, with no energy columns
        assert not [c for c in df.columns if "@" in c]
    # provenance travels with every row and with the files
    assert row["seed"] == 3 and row["n_eval"] == 40
    assert "torch" in row["versions"] and row["git_commit"]
    assert (tmp_path / "out" / "_sweep.json").exists()


def test_two_workers_give_the_serial_numbers(tmp_path, client):
    s = tiny()
    serial = sweep.run(s, tmp_path / "serial", workers=0, progress=False)
    holders = []

    def where_inputs_live(row):
        holders.append({k: len(v) for k, v in client.who_has().items()
                        if str(k).startswith(("spikescope-model", "spikescope-data"))})

    parallel = sweep.run(s, tmp_path / "dask", client=client, progress=False,
                         on_result=where_inputs_live)
    assert len(parallel) == 8
    assert parallel["worker"].nunique() == 2, "both workers should have run points"
    pd.testing.assert_frame_equal(measured(serial), measured(parallel))
    # one model and one data set, each scattered once to both workers (broadcast), not per task
    assert len(holders[0]) == 2 and set(holders[0].values()) == {2}, holders[0]


def test_resume_skips_finished_points(tmp_path):
    out = tmp_path / "out"
    small = tiny(grid={"percentile": [99.0, 100], "T": [8]})
    first = sweep.run(small, out, workers=0, progress=False)
    computed = []
    full = tiny(grid={"percentile": [99.0, 100], "T": [8, 16]})
    df = sweep.run(full, out, workers=0, progress=False, on_result=computed.append)
    assert len(df) == 4
    assert {r["timesteps"] for r in computed} == {16}, "only the new points should run"
    kept = df[df.point_id.isin(first.point_id)].sort_values("point_id")
    assert list(kept["finished_at"]) == list(first.sort_values("point_id")["finished_at"])
    again = []
    sweep.run(full, out, workers=0, progress=False, on_result=again.append)
    assert again == [], "a finished sweep must not recompute anything"


def test_interrupted_run_keeps_finished_points(tmp_path, client):
    out = tmp_path / "out"
    seen = []

    def interrupt(row):
        seen.append(row["point_id"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(tiny(), out, client=client, progress=False, on_result=interrupt)
    assert sweep.finished_ids(out) == set(seen)
    rest = []
    df = sweep.run(tiny(), out, client=client, progress=False, on_result=rest.append)
    assert len(df) == 8 and len(rest) == 5
    assert not {r["point_id"] for r in rest} & set(seen)


def test_killed_worker_loses_no_results(tmp_path):
    """SIGKILL a worker that is running a point: saved rows stay, its point is rerun elsewhere
    (the nanny restarts the worker) and the sweep completes."""
    from distributed import Client, LocalCluster

    out = tmp_path / "out"
    s = tiny(grid={"percentile": [99.0, 99.5, 100], "T": [400, 800]}, eval_size=50)
    killed = {}

    def kill_busy_worker(row):
        if killed:
            return
        killed["saved"] = dict(sweep.load_results(out).set_index("point_id")["finished_at"])
        busy = [w for w, keys in c.processing().items() if keys]
        if not busy:  # nothing left in flight: nothing to kill, the test would prove nothing
            return
        pid = c.run(os.getpid, workers=busy[:1])[busy[0]]
        killed.update(pid=pid, worker=busy[0], keys=c.processing()[busy[0]])
        os.kill(pid, signal.SIGKILL)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        df = sweep.run(s, out, client=c, progress=False, on_result=kill_busy_worker)
        assert "pid" in killed, "no point was in flight when the first one finished"
        deadline = time.time() + 20
        while len(c.scheduler_info()["workers"]) < 2 and time.time() < deadline:
            time.sleep(0.2)
        pids = set(c.run(os.getpid).values())
    assert killed["pid"] not in pids, "the killed worker process should be gone"
    assert len(df) == 6 and sweep.finished_ids(out) == {p["point_id"] for p in s.points()}
    after = df.set_index("point_id")["finished_at"]
    for pid_, stamp in killed["saved"].items():
        assert after[pid_] == stamp, "a row saved before the kill was rewritten"
    # the numbers are still the deterministic ones
    serial = sweep.run(s, tmp_path / "serial", workers=0, progress=False)
    pd.testing.assert_frame_equal(measured(serial), measured(df))


def test_failing_point_keeps_the_others(tmp_path, monkeypatch):
    real = sweep.run_point

    def flaky(point, *a, **kw):
        if point["timesteps"] == 16:
            raise RuntimeError("simulated crash")
        return real(point, *a, **kw)

    monkeypatch.setattr(sweep.execute, "run_point", flaky)
    s = tiny(grid={"percentile": [100], "T": [8, 16]})
    with pytest.raises(sweep.SweepError, match="1 of 2 points failed.*simulated crash"):
        sweep.run(s, tmp_path / "out", workers=0, progress=False)
    assert len(sweep.finished_ids(tmp_path / "out")) == 1


def test_pareto_front():
    df = pd.DataFrame({"synaptic_ops": [1, 2, 3, 2, 5, np.nan],
                       "accuracy": [0.5, 0.8, 0.8, 0.6, 0.9, 1.0]})
    assert sweep.pareto_front(df).tolist() == [True, True, False, False, True, False]


def test_cli_runs_a_tiny_yaml(tmp_path, client, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("name: tiny\nmodel: digits-mlp\ncalibration_size: 50\neval_size: 20\n"
                    "platforms: [Loihi]\ngrid:\n  percentile: [99.0, 100]\n  T: [6]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SPIKESCOPE_SCHEDULER", None)
    address = client.scheduler.address
    res = subprocess.run([sys.executable, "-m", "spikescope", "sweep", str(spec),
                          "--scheduler", address, "--out", str(tmp_path / "res"),
                          "--no-progress"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "2 points in" in res.stdout and "dashboard" in res.stderr
    df = sweep.load_results(tmp_path / "res")
    assert sorted(df["percentile"]) == [99.0, 100.0] and (df["n_eval"] == 20).all()
    assert df["worker"].str.startswith("tcp://").all()
    # the scheduler from the environment, and resuming: nothing left to do
    from spikescope import cli

    os.environ["SPIKESCOPE_SCHEDULER"] = address
    try:
        assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "res")]) == 0
    finally:
        del os.environ["SPIKESCOPE_SCHEDULER"]
    assert "2 of 2 points already" in capsys.readouterr().err
    assert cli.main(["sweep", str(tmp_path / "missing.yaml")]) == 1
    assert "not found" in capsys.readouterr().err
    assert Path(sys.executable).with_name("spikescope").exists(), "console script missing"


def test_sweeps_view_builds_runs_and_plots(tmp_path):
    import panel as pn

    from widgets.sweeps import SweepsView

    view = SweepsView()
    assert pn.panel(view).get_root() is not None
    view.settings.param.update(percentiles=[99.0, 100.0], timesteps=[5, 10], eval_size=20,
                               calibration_size=50, workers=0)
    view.out = str(tmp_path / "ui")
    view.run = True
    view.wait(120)
    assert not view.running and view.message.startswith("Done"), view.message
    assert (view.done, view.total) == (4, 4) and len(view.results) == 4
    assert sweep.finished_ids(tmp_path / "ui") == set(view.results["point_id"])
    heat = view.heatmap().HeatMap.I  # one heat map (the other swept settings are fixed)
    assert sorted(heat.dimension_values("percentile").astype(float)) == [99, 99, 100, 100]
    assert sorted(heat.dimension_values("accuracy")) == sorted(view.results["accuracy"])
    view.cost = "synaptic_ops"
    curve = view.pareto().Curve.Pareto_front
    assert len(curve) == sweep.pareto_front(view.results).sum() >= 1
    assert pn.panel(view).get_root() is not None  # the filled view renders too
    view.settings.resets = []
    view.run = True
    assert "choose at least one value for reset" in view.message and not view.running


def test_a_sweep_point_runs_on_a_residual_network(tmp_path):
    """A graph network (residual addition, 1x1 downsample shortcut, global average pool)
    declared in code: the sweep measures what a direct run measures."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from spikescope import convert

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.c3, self.down = nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Conv2d(4, 6, 1, 2)
            self.fc = nn.Linear(6, 10)

        def forward(self, x):
            a = F.relu(self.c1(x))
            b = F.relu(self.c2(a) + a)
            c = F.relu(self.c3(b) + self.down(b))
            return self.fc(F.adaptive_avg_pool2d(c, 1).view(c.size(0), -1))

    torch.manual_seed(0)
    model = Res().eval()
    s = sweep.Sweep(model="res", models={"res": model}, dataset="digits",
                    grid={"T": [10]}, fixed={"percentile": 99.0}, calibration_size=60,
                    eval_size=20, seed=1, curve_points=3, platforms=["Loihi"])
    row = sweep.run(s, tmp_path / "out", workers=0, progress=False).iloc[0]
    xc, xe, ye = sweep.select_data("digits", 60, 20, 1)
    torch.manual_seed(1)
    net = convert(model, xc, percentile=99.0)
    assert not net.is_chain
    rec = net.run(xe, 10, record=())
    assert row["accuracy"] == pytest.approx(float(rec.accuracy_curve(ye)[-1]))
    assert row["synaptic_ops"] == pytest.approx(float(rec.synaptic_ops[-1]))
    assert row["synaptic_ops"] > 0 and np.isfinite(row["edp_js@Loihi"])
    assert list(row["lambdas"]) == pytest.approx(net.lambdas)
