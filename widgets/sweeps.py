"""Sweeps view: launch a small parameter sweep (spikescope.sweep) and compare its grid points.

Heat maps of accuracy / synaptic ops / EDP over two swept settings (one panel per value of the
others) and the Pareto front of accuracy against cost (ops, energy or EDP on a chosen
platform). The sweep runs in a background thread (in this process or on dask workers); every
finished point reaches the plots on the UI thread (:func:`widgets.uithread.ui_runner`).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend)
import pandas as pd
import panel as pn
import param
from bokeh.models import NumeralTickFormatter

from spikescope import sweep, zoo
from spikescope.sim.network import CODES

from .base import escape_text
from .uithread import ui_runner

hv.Store.set_current_backend("bokeh")

#: settings a heat map can put on its axes (and that the view lets you sweep)
SWEPT = ("timesteps", "percentile", "reset", "code", "model")
COSTS = {"synaptic_ops": "synaptic ops / sample", "spikes_per_sample": "spikes / sample"}


class SweepCancelled(Exception):
    """Raised from the progress hook to stop a sweep after the point that just finished."""


class SweepSettings(param.Parameterized):
    """What a sweep launched from the view covers (no Panel here: usable from a notebook)."""

    model = param.Selector(default="digits-mlp", objects=[
        m for m in zoo.names() if zoo.task_of(m) == "classification"],
                           doc="Trained ANN from the zoo.")
    percentiles = param.ListSelector(default=[99.0, 99.9, 100.0],
                                     objects=[90.0, 99.0, 99.9, 99.99, 100.0],
                                     doc="Normalization percentiles p (100 = max-norm).")
    timesteps = param.ListSelector(default=[10, 25, 50], objects=[5, 10, 25, 50, 100, 200],
                                   doc="Simulation lengths T (steps).")
    resets = param.ListSelector(default=["subtract"], objects=list(sweep.RESETS),
                                doc="Reset modes after a spike.")
    codes = param.ListSelector(default=["rate"], objects=sorted(CODES),
                               doc="Spike codes of the converted network.")
    calibration_size = param.Integer(default=200, bounds=(10, 1000),
                                     doc="Training images used to find the lambdas.")
    eval_size = param.Integer(default=100, bounds=(10, 360),
                              doc="Test images each point is evaluated on.")
    seed = param.Integer(default=0, bounds=(0, None), doc="Seed of subsets and encoders.")
    workers = param.Integer(default=0, bounds=(0, 8),
                            doc="0: run in this process; N: a LocalCluster of N worker "
                                "processes ($SPIKESCOPE_SCHEDULER, if set, is used instead).")

    def sweep(self) -> sweep.Sweep:
        """The :class:`spikescope.sweep.Sweep` these settings declare."""
        grid = {"percentile": sorted(self.percentiles), "timesteps": sorted(self.timesteps),
                "reset": list(self.resets), "code": list(self.codes)}
        empty = [k for k, v in grid.items() if not v]
        if empty:
            raise ValueError(f"choose at least one value for {', '.join(empty)}")
        return sweep.Sweep(model=self.model, grid=grid, calibration_size=self.calibration_size,
                           eval_size=self.eval_size, seed=self.seed, curve_points=20,
                           name=f"{self.model}-ui")


class SweepsView(pn.viewable.Viewer):
    """Launch a sweep, watch its progress, compare points in heat maps and Pareto fronts."""

    settings = param.ClassSelector(class_=SweepSettings, doc="What the next sweep covers.")
    results = param.DataFrame(default=None, allow_None=True,
                              doc="One row per finished point (spikescope.sweep columns).")
    out = param.String(default="", doc="Results folder (default: a temporary folder).")
    run = param.Event(doc="Start the sweep (finished points in `out` are skipped).")
    stop = param.Event(doc="Stop after the point that is running.")
    running = param.Boolean(default=False, doc="A sweep is running.")
    done = param.Integer(default=0, doc="Points finished in this sweep.")
    total = param.Integer(default=0, doc="Points in this sweep.")
    message = param.String(default="", doc="Status or error shown under the controls.")
    metric = param.Selector(default="accuracy", objects=["accuracy"],
                            doc="Quantity shown in the heat maps.")
    cost = param.Selector(default="synaptic_ops", objects=list(COSTS),
                          doc="Cost axis of the Pareto front (minimised).")
    x = param.Selector(default="timesteps", objects=list(SWEPT), doc="Heat-map x axis.")
    y = param.Selector(default="percentile", objects=list(SWEPT), doc="Heat-map y axis.")

    def __init__(self, **params):
        params.setdefault("settings", SweepSettings())
        super().__init__(**params)
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._on_ui = ui_runner()  # replaced by the one of the page that starts a sweep
        self._tmp = None
        if self.results is not None:
            self._update_choices()

    # ------------------------------------------------------------------ running
    @param.depends("run", watch=True)
    def _start(self) -> None:
        if self.running:
            return
        try:
            s = self.settings.sweep()
        except ValueError as e:
            self.message = f"Cannot start: {escape_text(e)}"
            return
        if not self.out:
            self._tmp = tempfile.TemporaryDirectory(prefix="spikescope-sweep-")
            self.out = self._tmp.name
        self._on_ui = ui_runner()
        self._stop_requested.clear()
        n = len(s.points())
        done = sweep.finished_ids(self.out) & {p["point_id"] for p in s.points()}
        self.param.update(running=True, total=n, done=len(done),
                          message=f"Running {n} points ({len(done)} already done)...")
        self.results = self._own_rows(s)
        self._thread = threading.Thread(target=self._work, args=(s,), daemon=True,
                                         name="spikescope-sweep")
        self._thread.start()

    @param.depends("stop", watch=True)
    def _request_stop(self) -> None:
        if self.running:
            self._stop_requested.set()
            self.message = "Stopping after the running point..."

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running sweep's thread ends (notebooks and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _own_rows(self, s: sweep.Sweep) -> pd.DataFrame | None:
        df = sweep.load_results(self.out)
        ids = {p["point_id"] for p in s.points()}
        df = df[df["point_id"].isin(ids)] if len(df) else df
        return df.reset_index(drop=True) if len(df) else None

    def _work(self, s: sweep.Sweep) -> None:
        """Runs in the background thread: never touches widgets directly, only via _ui."""
        def on_result(row):
            self._ui(lambda: self._add_row(row))
            if self._stop_requested.is_set():
                raise SweepCancelled

        try:
            sweep.run(s, self.out, workers=self.settings.workers, progress=False,
                      on_result=on_result)
            msg = f"Done: {len(s.points())} points in {self.out}"
        except SweepCancelled:
            msg = "Stopped; finished points are kept (Run resumes)."
        except Exception as e:  # shown in the app; the session keeps working
            msg = f"Sweep failed: {type(e).__name__}: {escape_text(e)}"
        self._ui(lambda: self.param.update(running=False, message=msg))

    def _ui(self, fn) -> None:
        """``fn`` on the UI thread (``ui_runner``); a drawing problem must not stop the sweep."""
        try:
            self._on_ui(fn)
        except Exception as e:  # noqa: BLE001 - shown in the view
            self.message = (f"Could not update the plots: {type(e).__name__}: "
                            f"{escape_text(e)}")

    def _add_row(self, row: dict) -> None:
        new = pd.DataFrame([row])
        df = new if self.results is None else pd.concat([self.results, new], ignore_index=True)
        with param.parameterized.batch_call_watchers(self):
            self.done = min(self.done + 1, self.total)
            self.results = df.drop_duplicates("point_id", keep="last").reset_index(drop=True)

    def load(self, out: str | Path) -> pd.DataFrame:
        """Show the results saved in folder ``out`` (e.g. from ``spikescope sweep``)."""
        self.results = sweep.load_results(out)
        self.message = f"Loaded {len(self.results)} points from {out}"
        return self.results

    # ------------------------------------------------------------------ plots
    @param.depends("results", watch=True)
    def _update_choices(self) -> None:
        df = self.results
        if df is None or not len(df):
            return
        metrics = sweep.metric_columns(df)
        costs = [c for c in metrics if c in COSTS or c.startswith(("energy_j@", "edp_js@"))]
        self.param.metric.objects = metrics
        self.param.cost.objects = costs
        if self.metric not in metrics:
            self.metric = "accuracy"
        if self.cost not in costs:
            self.cost = "synaptic_ops"

    def _varied(self, df: pd.DataFrame) -> list[str]:
        return [k for k in SWEPT if k in df.columns and df[k].nunique() > 1]

    @param.depends("results", "metric", "x", "y")
    def heatmap(self):
        """Heat map of ``metric`` over x and y; one panel per value of the other swept settings."""
        df = self.results
        if df is None or not len(df) or self.metric not in df.columns:
            return pn.pane.Markdown("*No results yet: choose a grid and press **Run sweep**.*",
                                    width=500, height=300)
        x, y = (self.x, self.y) if self.x != self.y else (self.x, "percentile")
        others = [k for k in self._varied(df) if k not in (x, y)]
        data = df[[x, y, *others, self.metric]].copy()
        for k in (x, y):  # categorical axes in numeric order, one cell per value
            order = sorted(data[k].unique(), key=lambda v: (isinstance(v, str), v))
            data[k] = pd.Categorical(data[k].astype(str), [str(v) for v in order])
        data = data.sort_values([x, y])
        data[x], data[y] = data[x].astype(str), data[y].astype(str)
        opts = dict(width=380, height=280, colorbar=True, tools=["hover"], cmap="viridis",
                    xlabel=x, ylabel=y, title=self.metric)
        if self.metric in ("accuracy", "ann_accuracy"):
            opts["clim"] = (float(data[self.metric].min()), 1.0)
        ds = hv.Dataset(data, kdims=[x, y, *others], vdims=[self.metric])
        if not others:
            plot = hv.HeatMap(ds).opts(**opts)
            return plot * hv.Labels(plot).opts(text_font_size="8pt", text_color="white")
        return ds.to(hv.HeatMap, [x, y], [self.metric]).opts(**opts).layout(others).cols(2)

    @param.depends("results", "cost")
    def pareto(self):
        """Accuracy against cost for every point, with the Pareto front (no point is cheaper
        and at least as accurate)."""
        df = self.results
        if df is None or not len(df) or self.cost not in df.columns:
            return pn.pane.Markdown("*No results yet.*", width=500, height=300)
        dims = [k for k in SWEPT if k in df.columns]
        data = df[[self.cost, "accuracy", *dims]].copy()
        data[dims] = data[dims].astype(str)
        front = data[sweep.pareto_front(df, self.cost, "accuracy")].sort_values(self.cost)
        label = COSTS.get(self.cost, self.cost.replace("@", " on "))
        c = data[self.cost].to_numpy(dtype=float)
        log = bool((c > 0).all() and c.max() > 10 * c.min())
        points = hv.Scatter(data, self.cost, ["accuracy", *dims], label="grid points").opts(
            size=8, alpha=0.6, tools=["hover"], color="#1f77b4")
        curve = hv.Curve(front, self.cost, "accuracy", label="Pareto front").opts(
            interpolation="steps-post", color="#d62728", line_width=2)
        best = hv.Scatter(front, self.cost, ["accuracy", *dims]).opts(
            size=10, color="#d62728", tools=["hover"])
        # linear axis: 50k, 1.2m (Bokeh's default printed large costs as 5.000e+4)
        fmt = {} if log else {"xformatter": NumeralTickFormatter(format="0.[0]a")}
        return (points * curve * best).opts(width=520, height=320, logx=log, xlabel=label,
                                            **fmt,
                                            ylabel="accuracy", legend_position="bottom_right",
                                            title=f"accuracy vs {label}")

    # ------------------------------------------------------------------ layout
    def __panel__(self):
        s = self.settings
        controls = pn.Column(
            "### Sweep",
            pn.widgets.Select.from_param(s.param.model),
            pn.widgets.MultiChoice.from_param(s.param.percentiles, name="percentile p"),
            pn.widgets.MultiChoice.from_param(s.param.timesteps, name="T (steps)"),
            pn.widgets.MultiChoice.from_param(s.param.resets, name="reset"),
            pn.widgets.MultiChoice.from_param(s.param.codes, name="code"),
            pn.widgets.IntInput.from_param(s.param.eval_size, name="test images"),
            pn.widgets.IntInput.from_param(s.param.workers, name="dask workers (0 = here)"),
            pn.Row(pn.widgets.Button.from_param(self.param.run, label="Run sweep",
                                                color="primary",
                                                disabled=self.param.running),
                   pn.widgets.Button.from_param(self.param.stop, label="Stop",
                                                disabled=self.param.running.rx.not_())),
            pn.indicators.Progress(value=self.param.done, max=self.param.total,
                                   active=self.param.running, sizing_mode="stretch_width"),
            pn.pane.Markdown(self.param.message, sizing_mode="stretch_width"),
            width=300,
        )
        plots = pn.Column(
            pn.Row(pn.widgets.Select.from_param(self.param.metric, width=180),
                   pn.widgets.Select.from_param(self.param.x, name="x", width=120),
                   pn.widgets.Select.from_param(self.param.y, name="y", width=120)),
            pn.panel(self.heatmap),
            pn.widgets.Select.from_param(self.param.cost, name="Pareto cost", width=220),
            pn.panel(self.pareto),
            pn.pane.Markdown(
                "**What am I seeing?** Each cell is one converted network run on the test "
                "images; the heat map shows how the chosen quantity depends on two swept "
                "settings. The Pareto front links the points no other point beats: none is "
                "both cheaper and at least as accurate.", styles={"font-size": "12px"},
                width=500),
        )
        return pn.Row(controls, plots)
