"""Energy-delay trade-off of the evaluated SNN on neuromorphic platforms (spikescope.energy)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .base import View, help_text, hv_pane
from .confusion import tapped_map
from .ranges import data_limits

#: Height of the energy plots (px): room for the axes and their labels.
PLOT_HEIGHT = 300


class TradeoffView(View):
    """Accuracy vs energy and EDP vs time on a chosen platform; energy at T on every one."""

    help = ("From the last evaluation. Left: accuracy against energy per inference on the "
            "chosen platform (energy = synaptic ops x joules per op + static power x delay), "
            "one point per time step (log scale). Right: energy-delay product (EDP = energy x "
            "delay, in joule-seconds) vs time (log scale). Below: energy per inference after "
            "all T steps on every neuromorphic platform (log scale). Platforms come from "
            "spikescope.energy.PLATFORMS; click the EDP curve to move the cursor.")

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
            ylabel="accuracy (%)", logx=True, xlim=xlim, ylim=(-2, 102), responsive=True,
            height=PLOT_HEIGHT, framewise=True)

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
            hv_pane(self.platforms),
            help_text(self.help), sizing_mode="stretch_width")
