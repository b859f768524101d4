"""Energy-delay trade-off of the evaluated SNN on neuromorphic platforms (spikescope.energy)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from .base import View, help_text, hv_pane


class TradeoffView(View):
    """Accuracy vs energy and EDP vs time on a chosen platform; energy at T on every one."""

    help = ("From the last evaluation. Left: accuracy against energy per inference on the "
            "chosen platform (energy = synaptic ops x joules per op + static power x delay), "
            "one point per time step. Middle: energy-delay product (EDP = energy x delay, in "
            "joule-seconds) vs time. Right: energy per inference after all T steps on every "
            "neuromorphic platform (log scale). Platforms come from spikescope.energy."
            "PLATFORMS; click a curve to move the cursor.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        s = self.session
        self.available = bool(s.param.platform.objects)
        self.platform = pn.widgets.Select.from_param(s.param.platform, name="Platform",
                                                     width=240)
        deps = dict(evaluation=s.param.evaluation, platform=s.param.platform, t=s.param.t)
        self.energy = hv.DynamicMap(pn.bind(self._energy, **deps))
        self.edp = hv.DynamicMap(pn.bind(self._edp, **deps))
        self.platforms = hv.DynamicMap(pn.bind(self._platforms, evaluation=s.param.evaluation,
                                               platform=s.param.platform))
        tap = hv.streams.Tap(source=self.edp, x=None, y=None)
        tap.add_subscriber(self._tap)

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
        else:
            time = df["t"].to_numpy() * evaluation.dt_ms
            curve = hv.Curve((df["energy_j"].to_numpy(), 100 * df["accuracy"].to_numpy(), time),
                             "energy (J)", ["accuracy (%)", "time (ms)"])
            i = int(np.clip(t, 1, len(df))) - 1
            mark = hv.Scatter([(df["energy_j"].iloc[i], 100 * df["accuracy"].iloc[i])],
                              "energy (J)", "accuracy (%)")
        return (curve.opts(tools=["hover"], line_width=2) * mark.opts(color="black", size=8)
                ).opts(title=f"Accuracy vs energy on {platform}", xlabel="energy per "
                       "inference (J)", ylabel="accuracy (%)", ylim=(0, 100), responsive=True,
                       height=280, framewise=True)

    def _edp(self, evaluation, platform, t):
        df = self._table(evaluation, platform)
        s = self.session
        if df is None:
            curve = hv.Curve((np.zeros(0), np.zeros(0)), "time (ms)", "EDP (J s)")
        else:
            curve = hv.Curve((df["t"].to_numpy() * evaluation.dt_ms, df["edp_js"].to_numpy()),
                             "time (ms)", "EDP (J s)")
        return (curve.opts(tools=["hover", "tap"], line_width=2)
                * hv.VLine(t * s.dt_ms).opts(color="black", line_dash="dotted")).opts(
            title="Energy-delay product vs time", xlabel="time (ms)", ylabel="EDP (J s)",
            responsive=True, height=280, framewise=True)

    def _platforms(self, evaluation, platform):
        data = []  # NaN before an evaluation: the categorical axis exists from the start
        for name in self.session.param.platform.objects:
            energy_j = np.nan
            if evaluation is not None and self.available:
                try:
                    energy_j = float(self.session.tradeoff(name)["energy_j"].iloc[-1])
                except Exception:  # noqa: S112  (a platform without the needed figures)
                    pass
            data.append((name, energy_j))
        return hv.Bars(data, "platform", "energy (J)").opts(
            title="Energy per inference at T", logy=True, xrotation=60,
            responsive=True, height=280, tools=["hover"], framewise=True,
            ylabel="energy per inference (J)")

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
            pn.Row(*[hv_pane(p, sizing_mode="stretch_width")
                     for p in (self.energy, self.edp, self.platforms)],
                   sizing_mode="stretch_width"),
            help_text(self.help), sizing_mode="stretch_width")
