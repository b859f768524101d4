"""Controls: what to simulate (model, data, code, normalization, neurons) and the time cursor."""

from __future__ import annotations

import json

import panel as pn
import param
from panel.custom import JSComponent

from .base import View

#: Browser side of Pause: send the step on screen (before the click event), unique per click.
PAUSE_AT_SHOWN_STEP = "shown.value = `${slider.value}@${Date.now()}`"
#: Browser side of Run's flow control: report each step the time slider was moved to.
REPORT_DRAWN_STEP = "drawn.value = `${cb_obj.value}@${Date.now()}`"


#: Keyboard shortcuts: key (``KeyboardEvent.key``) -> the press counter it adds to.
SHORTCUTS = {" ": "space", "ArrowRight": "right", "ArrowLeft": "left"}


def shortcut_event(counter: str, running: bool) -> str:
    """The session event one press of a shortcut triggers: space toggles Run/Pause, arrow
    right/left = Step/Back (``counter`` as in :data:`SHORTCUTS`)."""
    if counter == "space":
        return "pause" if running else "run"
    return {"right": "step", "left": "step_back"}[counter]


KEYS_HELP = "Keys: space = Run/Pause, arrow right/left = Step/Back."
HELP_STYLE = {"font-size": "11px", "color": "#555"}


class KeyboardShortcuts(JSComponent):
    """A page-wide keydown listener (no visible element) that counts the presses of the
    shortcut keys of :data:`SHORTCUTS`. Counts, not events: a busy server that merges the
    page's pending changes still sees every press. Keys typed into inputs, text areas,
    selects, editable text and sliders are left to them; on a focused button the browser's
    own activation by space is suppressed (it would press that button too)."""

    space = param.Integer(default=0, bounds=(0, None), doc="Presses of space so far.")
    right = param.Integer(default=0, bounds=(0, None), doc="Presses of arrow right so far.")
    left = param.Integer(default=0, bounds=(0, None), doc="Presses of arrow left so far.")

    _esm = "const KEYS = " + json.dumps(SHORTCUTS) + ";" + """
    function editable(el) {
      if (!el || !el.tagName) return false;
      const tag = el.tagName.toLowerCase();
      return tag === "input" || tag === "textarea" || tag === "select" ||
             el.isContentEditable || el.getAttribute("role") === "slider";
    }
    export function render({ model }) {
      const target = (e) => (e.composedPath ? e.composedPath()[0] : e.target);
      const down = (e) => {
        const counter = KEYS[e.key];
        if (!counter || e.ctrlKey || e.metaKey || e.altKey || editable(target(e))) return;
        e.preventDefault();
        if (!e.repeat || e.key !== " ") model[counter] = model[counter] + 1;
      };
      const up = (e) => {  // space on a focused button would click it on key up
        if (e.key === " " && !editable(target(e))) e.preventDefault();
      };
      document.addEventListener("keydown", down, true);
      document.addEventListener("keyup", up, true);
      document.documentElement.dataset.shortcuts = "on";  // the page listens (tests wait)
      model.on("remove", () => {
        document.removeEventListener("keydown", down, true);
        document.removeEventListener("keyup", up, true);
        delete document.documentElement.dataset.shortcuts;
      });
      return document.createElement("span");
    }
    """


def time_readout(session, t: int) -> str:
    """'t = 12 ms of 100 ms · 345 spikes so far': the cursor and the spikes up to it."""
    dt = session.dt_ms
    return (f"**t = {t * dt:g} ms** of {session.timesteps * dt:g} ms · "
            f"{session.spikes_at(t)} spikes so far")


def throttled_slider(obj, pname: str, on_release=None, **kw) -> pn.widgets.IntSlider:
    """An IntSlider linked both ways to ``obj.<pname>``: it sends its value on release
    (``value_throttled``) and follows every change of the parameter and of its bounds.
    For parameters set inside an event (Step sets ``t``): Panel's own throttled link
    (``from_param(..., throttled=True)``) raises on such "triggered" changes.
    ``on_release()`` runs before a value from the slider is applied."""
    lo, hi = obj.param[pname].bounds
    slider = pn.widgets.IntSlider(start=lo, end=hi, value=getattr(obj, pname), **kw)

    def to_slider(e):
        if e.what == "bounds":
            slider.param.update(start=e.new[0], end=e.new[1])
        else:
            slider.value = e.new
    obj.param.watch(to_slider, [pname], what="value")
    obj.param.watch(to_slider, [pname], what="bounds")
    def from_slider(e):
        if on_release is not None:
            on_release()
        setattr(obj, pname, e.new)
    slider.param.watch(from_slider, "value_throttled")
    return slider


class ControlsView(View):
    """Widgets for every session parameter, Step/Run/Pause/Reset and the time slider."""

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        p = self.session.param
        # sliders send their value on release (throttled): a slider tied to a parameter that
        # sent every intermediate value fell out of step with the kernel in JupyterLab
        W = dict(sizing_mode="stretch_width")
        S = dict(W, throttled=True)
        self.model = pn.widgets.Select.from_param(p.model, name="Model", **W)
        self.dataset = pn.widgets.Select.from_param(p.dataset, name="Data set", **W)
        self.sample = pn.widgets.IntInput.from_param(p.sample, name="Test sample", width=110)
        self.random = pn.widgets.Button.from_param(p.random_sample, label="Random sample",
                                                   width=140, margin=(27, 5, 5, 5))
        self.code = pn.widgets.Select.from_param(
            p.code, name="Spike code", description="How neurons carry values: rate = "
            "spike counts; ttfs = time to first spike; pattern = n-bit pattern.", **W)
        self.encoding = pn.widgets.Select.from_param(
            p.encoding, name="Input encoding", description="analog = constant current; "
            "poisson = random spikes at rate x; events = event-camera frames.", **W)
        self.percentile = pn.widgets.DiscreteSlider.from_param(
            p.percentile, name="Normalization percentile", **S)
        self.timesteps = pn.widgets.IntSlider.from_param(p.timesteps, name="T (steps of 1 ms)",
                                                         start=10, end=500, step=10, **S)
        self.threshold = pn.widgets.FloatSlider.from_param(p.threshold, name="Threshold",
                                                           start=0.1, end=2.0, step=0.05, **S)
        self.leak = pn.widgets.FloatSlider.from_param(p.leak, name="Leak per step (1 = IF)",
                                                      step=0.005, **S)
        self.neuron = pn.widgets.Select.from_param(
            p.neuron, name="Neuron model", description="spikescope.neurons.NEURONS: if = "
            "non-leaky integrate-and-fire; lif = leaky (a leak < 1 selects it).", **W)
        self.reset = pn.widgets.RadioButtonGroup.from_param(p.reset, **W)
        self.clamp = pn.widgets.IntSlider.from_param(p.clamp_delay,
                                                     name="Clamp delay (steps per layer)", **S)
        self.speed = pn.widgets.IntSlider.from_param(p.speed, name="Run speed (steps/s)", **S)
        self.step = pn.widgets.Button.from_param(p.step, label="Step", color="primary",
                                                 width=70, description="Step (arrow right)")
        self.step_back = pn.widgets.Button.from_param(p.step_back, label="Back", width=70,
                                                      description="Step back (arrow left)")
        self.run = pn.widgets.Button.from_param(p.run, label="Run", color="success",
                                                width=75)
        self.pause = pn.widgets.Button.from_param(p.pause, label="Pause", width=80)
        self.reset_run = pn.widgets.Button.from_param(p.reset_run, label="Reset", width=80)
        # moving the time slider (also Pause, below) takes the cursor: Run stops there
        self.time = throttled_slider(self.session, "t", name="Time cursor (steps)",
                                     on_release=self._stop_run, **W)
        # Pause stops at the step the browser shows: the frames in flight while Run animates
        # (several steps on a busy server) would otherwise move the cursor on after the click
        self._shown = pn.widgets.TextInput(visible=False)
        # flow control of Run: the browser reports every step it has drawn
        self._drawn = pn.widgets.TextInput(visible=False)
        self._drawn.param.watch(self._frame_drawn, "value")
        self.time.jscallback(args={"drawn": self._drawn}, value=REPORT_DRAWN_STEP)
        self._shown.param.watch(self._pause_at_shown, "value")
        self.pause.js_on_click(args={"slider": self.time, "shown": self._shown},
                               code=PAUSE_AT_SHOWN_STEP)
        self.keys = KeyboardShortcuts(width=0, height=0, margin=0)
        self.keys.param.watch(self._on_keys, list(SHORTCUTS.values()))
        self.readout = pn.pane.Markdown(pn.bind(lambda t, version: time_readout(
            self.session, t), t=p.t, version=p.version), **W)
        self.session.param.watch(self._conversion_controls, "model")
        self._conversion_controls()

    def _stop_run(self) -> None:
        self.session.running = False

    def _on_keys(self, *events) -> None:
        """Each new press: space = Run/Pause, arrow right/left = Step/Back."""
        for e in events:
            for _ in range(max(0, e.new - e.old)):
                self.session.param.trigger(shortcut_event(e.name, self.session.running))

    def _frame_drawn(self, event) -> None:
        try:
            self.session.frame_shown(int(str(event.new).split("@")[0]))
        except ValueError:
            return

    def _pause_at_shown(self, event) -> None:
        """Pause at the step the browser showed when Pause was clicked."""
        try:
            t = int(str(event.new).split("@")[0])
        except ValueError:
            return
        s = self.session  # the click event itself may have stopped Run already
        s.running = False
        s.t = max(0, min(t, s.timesteps))

    def _conversion_controls(self, *_):
        """A trained SNN runs as trained: the conversion and neuron controls do not apply."""
        for w in (self.code, self.percentile, self.neuron, self.threshold, self.leak,
                  self.reset, self.clamp, self.encoding):
            w.disabled = self.session.trained

    def transport(self) -> pn.Column:
        """Back/Step/Run/Pause/Reset (and their keys), the time slider and the readout."""
        return pn.Column(pn.Row(self.step_back, self.step, self.run),
                         pn.Row(self.pause, self.reset_run), self._shown, self._drawn,
                         self.keys, pn.pane.Markdown(KEYS_HELP, styles=HELP_STYLE, margin=(0, 10)),
                         self.time, self.readout, sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Column(
            "### Time", self.transport(),
            "### Network", self.model, self.dataset, pn.Row(self.sample, self.random),
            self.code, self.encoding, self.percentile, self.timesteps,
            "### Neurons", self.neuron, self.threshold, self.leak,
            pn.pane.Markdown("Reset after a spike"),
            self.reset, self.clamp, self.speed, sizing_mode="stretch_width")
