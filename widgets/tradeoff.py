"""Energy-delay trade-off of the evaluated SNN on neuromorphic platforms (spikescope.energy)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import torch

from spikescope import energy

from .base import View, help_text, hv_pane
from .catalog import shared_dataset
from .confusion import tapped_map
from .ranges import LOG_TICKS, data_limits
from .tradeoff_plot import accuracy_vs_edp

#: Height of the energy plots (px): room for the axes and their labels.
PLOT_HEIGHT = 300


class TradeoffView(View):
    """Accuracy vs energy and EDP vs time on a chosen platform; energy at T on every one."""

    help = ("From the last evaluation. Left: accuracy against energy per inference on the "
            "chosen platform (energy = synaptic ops x joules per op + static power x delay), "
            "one point per time step (log scale). Right: energy-delay product (EDP = energy x "
            "delay, in joule-seconds) vs time (log scale). Accuracy vs EDP: the SNN after "
            "every step, its Pareto front (the best accuracy reachable at each EDP: stop "
            "there), the ANN on a CPU (star; Horowitz 45 nm energy of its MACs, the CPU time "
            "per inference of Blouw et al. 2019) and, where the evaluation has it, the "
            "early-decision policy (stop each sample once its leading output leads by k "
            "spikes). Below: energy per inference after all T steps on every neuromorphic "
            "platform (log scale). Platforms come from spikescope.energy.PLATFORMS; click the "
            "EDP curve to move the cursor.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        s = self.session
        self.available = bool(s.param.platform.objects)
        self.platform = pn.widgets.Select.from_param(s.param.platform, name="Platform",
                                                     width=240)
        deps = dict(evaluation=s.param.evaluation, platform=s.param.platform, t=s.param.t)
        self.energy = hv.DynamicMap(pn.bind(self._energy, **deps))
        self.edp = tapped_map(self._edp, s, self._tap, names=("evaluation", "platform", "t"))
        self.platforms = hv.DynamicMap(pn.bind(self._platforms, evaluation=s.param.evaluation,
                                               platform=s.param.platform))
        # a new plot per evaluation or platform (its layers differ before and after one)
        self.pareto = pn.bind(self._pareto, evaluation=s.param.evaluation,
                              platform=s.param.platform)
        self._ann: tuple | None = None  # (evaluation id, ANN point or None)

    def _table(self, evaluation, platform):
        if evaluation is None or not self.available:
            return None
        try:
            return self.session.tradeoff(platform)
        except Exception as e:  # an edited/invalid platform: tell the user, keep going
            self.session.error = f"energy: {type(e).__name__}: {e}"
            return None

    def _energy(self, evaluation, platform, t):
        df = self._table(evaluation, platform)
        z = np.zeros(0)
        if df is None:
            curve = hv.Curve((z, z, z), "energy (J)", ["accuracy (%)", "time (ms)"])
            mark = hv.Scatter((z, z), "energy (J)", "accuracy (%)")
            platform = f"{platform} (evaluate first)"
            xlim = data_limits(log=True, empty=(1e-8, 1e-3))
        else:
            time = df["t"].to_numpy() * evaluation.dt_ms
            e_j, acc = df["energy_j"].to_numpy(), 100 * df["accuracy"].to_numpy()
            keep = e_j > 0
            curve = hv.Curve((e_j[keep], acc[keep], time[keep]), "energy (J)",
                             ["accuracy (%)", "time (ms)"])
            i = int(np.clip(t, 1, len(df))) - 1
            mark = hv.Scatter([(e_j[i], acc[i])] if e_j[i] > 0 else [], "energy (J)",
                              "accuracy (%)")
            xlim = data_limits(e_j, log=True)
        return (curve.opts(tools=["hover"], line_width=2, framewise=True)
                * mark.opts(color="black", size=8, framewise=True)).opts(
            title=f"Accuracy vs energy on {platform}", xlabel="energy per inference (J)",
            ylabel="accuracy (%)", logx=True, xformatter=LOG_TICKS, xlim=xlim, ylim=(-2, 102),
            responsive=True, height=PLOT_HEIGHT, framewise=True)

    def _edp(self, evaluation, platform, t):
        df = self._table(evaluation, platform)
        s = self.session
        if df is None:
            z = np.zeros(0)
            curve = hv.Curve((z, z), "time (ms)", "EDP (J s)")
            xlim, ylim = (0, s.timesteps * s.dt_ms), data_limits(log=True, empty=(1e-12, 1e-6))
        else:
            time, edp = df["t"].to_numpy() * evaluation.dt_ms, df["edp_js"].to_numpy()
            keep = edp > 0
            curve = hv.Curve((time[keep], edp[keep]), "time (ms)", "EDP (J s)")
            xlim, ylim = (0, float(time[-1])), data_limits(edp, log=True)
        return (curve.opts(tools=["hover"], line_width=2, framewise=True)
                * hv.VLine(t * s.dt_ms).opts(color="black", line_dash="dotted")).opts(
            title="Energy-delay product vs time", xlabel="time (ms)", ylabel="EDP (J s)",
            logy=True, xlim=xlim, ylim=ylim, responsive=True, height=PLOT_HEIGHT,
            framewise=True)

    def ann_point(self, evaluation) -> dict | None:
        """The ANN on the trade-off axes (``spikescope.energy.ann_point``) over the samples of
        ``evaluation``, once per evaluation; None where the session's network has no ANN."""
        if self._ann is not None and self._ann[0] == id(evaluation):
            return self._ann[1]
        s, point = self.session, None
        labels = getattr(evaluation, "labels", None)
        if labels is not None and not s.trained:
            x, _ = shared_dataset(s.dataset, "test")
            x = x[:len(labels)]
            try:
                with torch.no_grad():
                    point = energy.ann_point(s.net, x if s.encoding != "events" else
                                             x.mean(1), labels)
            except Exception:  # noqa: BLE001 - no ANN point for this network, the rest stays
                point = None
        self._ann = (id(evaluation), point)
        return point

    def _early(self, platform) -> pd.DataFrame | None:
        """The early-decision policy on ``platform`` (``session.early_decision``: one row
        per lead k, as ``spikescope.energy.early_decision_curve``)."""
        try:
            return self.session.early_decision(platform)
        except ValueError:  # a platform without the needed figures: the rest stays
            return None

    def _pareto(self, evaluation, platform):
        df = self._table(evaluation, platform)
        if df is None:
            z = np.zeros(0)
            return hv.Curve((z, z), "EDP (J s)", "accuracy").opts(
                title=f"Accuracy vs EDP on {platform} (evaluate first)", logx=True,
                xlim=data_limits(log=True, empty=(1e-12, 1e-6)), ylim=(0, 1.02),
                responsive=True, height=PLOT_HEIGHT)
        ann, early = self.ann_point(evaluation), self._early(platform)
        edps = [df["edp_js"].to_numpy()]
        if ann is not None:
            edps.append([ann["edp_js"]])
        if early is not None and len(early):
            edps.append(early["edp_js"].to_numpy())
        return accuracy_vs_edp(df, ann, early, width=None, height=PLOT_HEIGHT + 40,
                               responsive=True, xlim=data_limits(*edps, log=True),
                               ylim=(0, 1.02), xlabel="EDP (J s)", ylabel="accuracy")

    def _platforms(self, evaluation, platform):
        names = list(self.session.param.platform.objects)
        data = []
        for name in names:
            energy_j = np.nan  # NaN before an evaluation: the platform axis exists from the start
            if evaluation is not None and self.available:
                try:
                    energy_j = float(self.session.tradeoff(name)["energy_j"].iloc[-1])
                except Exception:  # noqa: S112  (a platform without the needed figures)
                    pass
            data.append((name, energy_j))
        vals = np.array([e for _, e in data], dtype=float)
        lo, hi = data_limits(vals, log=True, empty=(1e-7, 1e-3))
        # horizontal bars: platform names read left of the bars (rotated labels squashed the
        # plot); on a log axis the bars start at the value dimension's lower bound, not at 0
        energy_dim = hv.Dimension("energy (J)", range=(lo, hi))
        bars = hv.Bars([(n, e if e > 0 else np.nan) for n, e in data], "platform",
                       energy_dim).opts(
            title="Energy per inference at T (all platforms)", logx=True, logy=True,
            invert_axes=True, ylim=(lo, hi), responsive=True,
            height=max(PLOT_HEIGHT, 26 * len(names) + 80), tools=["hover"], framewise=True,
            ylabel="energy per inference (J)", xlabel="", color="#1f77b4")
        return bars

    def _tap(self, x=None, y=None):
        ev = self.session.evaluation
        if x is not None and ev is not None:
            s = self.session
            s.running = False
            s.t = int(np.clip(round(x / ev.dt_ms), 0, s.timesteps))

    def __panel__(self):
        if not self.available:
            return pn.pane.Alert("No neuromorphic platform in spikescope.energy.PLATFORMS.",
                                 alert_type="secondary")
        return pn.Column(
            self.platform,
            pn.Row(hv_pane(self.energy), hv_pane(self.edp), sizing_mode="stretch_width"),
            hv_pane(self.pareto),
            hv_pane(self.platforms),
            help_text(self.help), sizing_mode="stretch_width")
