"""Jet tagging, ANN vs SNN: confusion matrices side by side, per-class accuracy, accuracy and
EDP over time, and the per-class change in words (Borzyszkowski 2019, Figs. 6 and 8).

Self-contained: ``JetsView(comparison)`` draws a :class:`spikescope.jets.JetComparison`;
``JetsView.from_file(path)`` builds one from the user's hls4ml jet file and trained jet-mlp.
``JetsTab`` is the dashboard's tab: a file input, and until a real file is given the synthetic
stand-in of notebook 08 (:mod:`spikescope.data.jets_synthetic`), labelled as such.
"""

from __future__ import annotations

import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend)
import numpy as np
import panel as pn
import param

from spikescope import energy, jets
from spikescope.data.jets_synthetic import SYNTHETIC_NOTE, write_synthetic_jets
from spikescope.jets import JetComparison

from .base import escape_text
from .confusion import confusion_heatmap
from .uithread import ui_runner

if "bokeh" not in hv.Store.renderers or hv.Store.current_backend != "bokeh":
    hv.extension("bokeh", logo=False)

ANN_COLOR, SNN_COLOR = "#1f77b4", "#d62728"


def _energy():
    """``spikescope.energy``, through one seam (a test replaces it to draw the view without
    EDP)."""
    return energy


def _edp_platforms() -> list[str]:
    """Platforms with a per-synaptic-op energy (the ones an SNN trade-off can use)."""
    module = _energy()
    if module is None:
        return []
    return [name for name, p in module.PLATFORMS.items()
            if getattr(p, "energy_per_sop_j", 1.0) is not None]


#: Layout of the jet confusion matrices (value labels on the cells).
JET_HEATMAP = dict(values=True, width=380, height=300, xrotation=30, default_tools=[],
                   toolbar=None)


def class_labels(class_names) -> list[str]:
    """Display names of jet classes (``spikescope.jets.CLASS_NAMES``)."""
    return [jets.CLASS_NAMES.get(c, c) for c in class_names]


class JetsView(pn.viewable.Viewer):
    """ANN and SNN confusion matrices side by side, per-class accuracy, accuracy and EDP vs t."""

    comparison = param.ClassSelector(class_=JetComparison, doc=(
        "The ANN-vs-SNN run to draw (spikescope.jets.compare)."))
    t = param.Integer(default=1, bounds=(1, None), doc=(
        "SNN time steps run (1..T): the SNN's confusion matrix, bars and words are read after "
        "this many steps."))
    platform = param.Selector(default=None, objects=[None], doc=(
        "Neuromorphic platform for the energy-delay product (spikescope.energy.PLATFORMS)."))

    def __init__(self, comparison: JetComparison, **params):
        platforms = _edp_platforms()
        super().__init__(comparison=comparison, **params)
        self.param.t.bounds = (1, comparison.timesteps)
        if "t" not in params:
            self.t = comparison.timesteps
        self.param.platform.objects = platforms or [None]
        if "platform" not in params:
            self.platform = "Loihi" if "Loihi" in platforms else (platforms or [None])[0]

    @classmethod
    def from_file(cls, path=None, *, n_test: int = 2000, n_calibration: int = 5000,
                  timesteps: int = 100, percentile: float = 99.9, **params) -> JetsView:
        """Load the user's jet data and trained jet-mlp, convert, run the SNN, draw it."""
        data = jets.load_jets(path)
        model = jets.load_jet_mlp(path)
        x, y = data.x_test[:n_test], data.y_test[:n_test]
        comp = jets.compare(model, x, y, calibration=data.x_train[:n_calibration],
                            timesteps=timesteps, percentile=percentile)
        return cls(comp, **params)

    # ------------------------------------------------------------------ plots
    @property
    def _step(self) -> int:
        return int(self.t) - 1

    @param.depends("comparison")
    def ann_matrix(self) -> hv.Overlay:
        c = self.comparison
        return confusion_heatmap(c.cm_ann, f"ANN: accuracy {100 * c.ann_accuracy:.1f}%",
                                 class_labels(c.class_names), cmap="Blues", **JET_HEATMAP)

    @param.depends("comparison", "t")
    def snn_matrix(self) -> hv.Overlay:
        c = self.comparison
        # short enough to fit above the matrix (a longer title was cut at the plot's edge)
        return confusion_heatmap(c.cm_snn(self._step), f"SNN, {self.t} steps: accuracy "
                                 f"{100 * c.snn_accuracy(self._step):.1f}%",
                                 class_labels(c.class_names), cmap="Reds", **JET_HEATMAP)

    @param.depends("comparison", "t")
    def class_bars(self) -> hv.Bars:
        c = self.comparison
        pa = jets.per_class_accuracy(c.cm_ann)
        ps = jets.per_class_accuracy(c.cm_snn(self._step))
        rows = []
        for i, name in enumerate(c.class_names):
            rows.append((jets.CLASS_NAMES.get(name, name), "ANN", float(pa[i])))
            rows.append((jets.CLASS_NAMES.get(name, name), "SNN", float(ps[i])))
        return hv.Bars(rows, kdims=["class", "network"], vdims=["accuracy"]).opts(
            title="Per-class accuracy", ylim=(0, 1), width=420, height=300, xrotation=30,
            color="network", cmap={"ANN": ANN_COLOR, "SNN": SNN_COLOR}, tools=["hover"],
            toolbar=None, show_legend=False)  # each bar is labelled ANN/SNN; a legend hid bars

    @param.depends("comparison", "t")
    def accuracy_plot(self) -> hv.Overlay:
        c = self.comparison
        acc = c.accuracy_curve()
        steps = np.arange(1, len(acc) + 1)
        curve = hv.Curve((steps, acc), "t (steps)", "accuracy", label="SNN").opts(
            color=SNN_COLOR)
        ann = hv.HLine(c.ann_accuracy, label="ANN").opts(color=ANN_COLOR, line_dash="dashed")
        now = hv.VLine(self.t).opts(color="gray", line_width=1)
        return (curve * ann * now).opts(title="Accuracy vs t", ylim=(0, 1.02), width=380,
                                         height=300, legend_position="bottom_right",
                                         toolbar=None)

    @param.depends("comparison", "t", "platform")
    def edp_plot(self):
        module = _energy()
        if module is None or self.platform is None:
            return pn.pane.Markdown("EDP needs `spikescope.energy` (not available here).")
        c = self.comparison
        try:
            df = module.tradeoff(c.recording, c.labels, self.platform)
        except (ValueError, KeyError) as e:
            return pn.pane.Alert(f"No EDP for {escape_text(self.platform)}: {escape_text(e)}",
                                 alert_type="warning")
        col = "edp_js" if "edp_js" in df else next(k for k in df if "edp" in k.lower())
        curve = hv.Curve((df["t"].to_numpy(), df[col].to_numpy()), "t (steps)",
                         "EDP (J s)").opts(color="#2ca02c")
        now = hv.VLine(self.t).opts(color="gray", line_width=1)
        return (curve * now).opts(title=f"Energy-delay product on {self.platform}",
                                  logy=True, width=380, height=300, toolbar=None)

    @param.depends("comparison", "t")
    def words(self) -> pn.pane.Markdown:
        c = self.comparison
        return pn.pane.Markdown(f"**What changes from ANN to SNN (after {self.t} steps):** "
                                f"{c.words(self._step)}", sizing_mode="stretch_width")

    def __panel__(self):
        # FlexBox, not Row: the plots keep their size and wrap onto the next line where the
        # page is narrower than a row of them (a JupyterLab output with the file browser open
        # is ~970 px wide in a 1400 px window; the three plots of the second row need ~1220 px
        # and a Row clipped the third)
        controls = pn.FlexBox(
            pn.widgets.IntSlider.from_param(self.param.t, name="SNN time steps t",
                                            throttled=True),  # value sent on release
            pn.widgets.Select.from_param(self.param.platform, name="EDP platform",
                                         disabled=not _edp_platforms()),
            sizing_mode="stretch_width")
        return pn.Column(
            "## Jet tagging: ANN vs SNN",
            controls,
            pn.FlexBox(pn.panel(self.ann_matrix), pn.panel(self.snn_matrix),
                       sizing_mode="stretch_width"),
            self.words,
            pn.FlexBox(pn.panel(self.class_bars), pn.panel(self.accuracy_plot),
                       pn.panel(self.edp_plot), sizing_mode="stretch_width"),
            pn.pane.Markdown(
                "**What am I seeing?** Left: the ANN's confusion matrix, right: the converted "
                "SNN's after t steps; rows are the true jet class and sum to 1, so the diagonal "
                "is each class's accuracy. Classes: gluon, light quark, W, Z, top. Inputs are "
                "standardized (signed) features fed to the SNN as constant currents.",
                styles={"font-size": "12px", "color": "#444"}, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )



# ================================================================== the dashboard's Jets tab
#: How to use the real data (the tab shows it beside the synthetic stand-in).
JETS_HOWTO = (
    "The real case (hls4ml LHC jets, 5 classes from 16 jet-substructure features) needs the "
    "public data file, which is not shipped: download `hls4ml_lhc_jets_hlf` from OpenML (ARFF "
    "or CSV, see `data/README.md`), train the jet-mlp once with "
    "`python scripts/train_jets.py FILE`, then enter the file path above (or start the app with "
    "$SPIKESCOPE_JETS set to it) and press Load.")
#: Training of the jet-mlp on the stand-in (notebook 08's fast settings: seconds, not hours).
SYNTHETIC_TRAINING = dict(epochs=40, patience=5, lr=3e-3, batch_size=128)
_synthetic_lock = threading.Lock()


def synthetic_comparison() -> JetComparison:
    """ANN vs SNN on the synthetic stand-in of notebook 08: the data written to a temporary
    CSV, the jet-mlp trained on it (a few seconds), converted and run for 100 steps. Built once
    per process and shared read-only by every session."""
    with _synthetic_lock:
        return _synthetic_comparison()


@lru_cache(maxsize=1)
def _synthetic_comparison() -> JetComparison:
    with tempfile.TemporaryDirectory() as d:
        path = write_synthetic_jets(Path(d) / "jets-synthetic.csv")
        meta = jets.train_jet_mlp(path, progress=False, out_dir=d, **SYNTHETIC_TRAINING)
        model = jets.load_jet_mlp(meta["weights"])
        data = jets.load_jets(path)
        return jets.compare(model, data.x_test, data.y_test,
                            calibration=data.x_train[:2000], timesteps=100, percentile=99.9)


class JetsTab(pn.viewable.Viewer):
    """A jet-data path input and :class:`JetsView` of that file; without a file (none given
    and no $SPIKESCOPE_JETS), the synthetic stand-in, said to be synthetic in words."""

    def __init__(self, **params):
        super().__init__(**params)
        self.path = pn.widgets.TextInput(label="Jet data file (ARFF / CSV / OpenML cache "
                                               "folder)", value=os.environ.get(jets.ENV_VAR, ""),
                                         placeholder="/path/to/hls4ml_lhc_jets_hlf.arff",
                                         sizing_mode="stretch_width")
        self.load = pn.widgets.Button(label="Load", button_type="primary", width=90,
                                      margin=(27, 5, 5, 5))
        self.status = pn.pane.Alert(JETS_HOWTO, alert_type="info", sizing_mode="stretch_width")
        self.body = pn.Column(sizing_mode="stretch_width")
        self.synthetic = False  # True while the stand-in is shown
        self.view: JetsView | None = None  # the view shown
        self.worker: threading.Thread | None = None
        self._loads = 0  # starts so far: only the latest one's result is shown
        self.load.on_click(lambda _: self.start())
        if not self.path.value.strip():
            self.start()

    def start(self) -> threading.Thread:
        """Load the file in the path input (empty: the synthetic stand-in) in a worker thread;
        the view replaces the tab's body when it is ready."""
        path = self.path.value.strip() or None
        on_ui = ui_runner()
        self._loads += 1
        n = self._loads
        self.load.disabled = True
        self.status.param.update(alert_type="info", object=(
            "Loading the jet data, converting and running the SNN on the test set..." if path
            else "No jet data file given: training the jet-mlp on a **synthetic stand-in** "
                 "(a few seconds), converting and running the SNN...\n\n" + JETS_HOWTO))

        def work():
            try:
                view = JetsView.from_file(path) if path else JetsView(synthetic_comparison())
            except Exception as e:  # noqa: BLE001 - shown in the tab; the session keeps working
                msg = (f"**Could not load the jet data**: {type(e).__name__}: "
                       f"{escape_text(e)}")
                on_ui(lambda: self._done(None, msg, path, n))
                return
            on_ui(lambda: self._done(view, None, path, n))

        self.worker = threading.Thread(target=work, daemon=True, name="spikescope-jets")
        self.worker.start()
        return self.worker

    def _done(self, view, msg, path, n: int) -> None:
        if n != self._loads:
            return  # a later Load superseded this one
        self.load.disabled = False
        if view is None:
            self.status.param.update(object=msg + "\n\n" + JETS_HOWTO, alert_type="danger")
            return
        self.synthetic = path is None
        if self.synthetic:
            self.status.param.update(alert_type="warning", object=(
                f"**{SYNTHETIC_NOTE}** It is the stand-in notebook 08 uses, so every step runs "
                f"without the real file.\n\n{JETS_HOWTO}"))
        else:
            self.status.param.update(alert_type="success", object=(
                f"Jet data loaded from {escape_text(Path(path).name)}."))
        self.view = view
        self.body[:] = [view]

    def __panel__(self):
        return pn.Column(pn.Row(self.path, self.load, sizing_mode="stretch_width"),
                         self.status, self.body, sizing_mode="stretch_width")
