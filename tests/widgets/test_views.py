"""Views and the Dashboard rendered to Bokeh models without a server or browser."""

import numpy as np
import panel as pn
import pytest
import torch
from bokeh.document import Document

from widgets import ActivityView, Dashboard, EvaluationView, RasterView, Session
from widgets.activity import activity_table
from widgets.controls import time_readout
from widgets.raster import spike_points


@pytest.fixture(scope="module")
def dash():
    torch.set_num_threads(1)
    d = Dashboard(Session(model="digits-cnn", timesteps=50, eval_samples=60))
    d.root = pn.panel(d).get_root(Document())
    yield d
    pn.state.reset()


def test_dashboard_renders_with_every_view(dash):
    assert dash.root is not None
    assert len(dash.raster._column) == len(dash.session.layer_names)
    assert dash.raster.dense[0], "conv1 (1024 neurons x T) should be drawn as a 2-D histogram"
    assert not dash.raster.dense[-1], "the 10 output neurons should be drawn as glyphs"


def test_step_updates_readout_and_raster(dash):
    s = dash.session
    s.reset_run = True
    assert time_readout(s, s.t).startswith("**t = 0 ms**")
    s.step = True
    s.step = True
    assert time_readout(s, s.t).startswith("**t = 2 ms**")
    assert dash.raster._column[0].object is dash.raster.layers[0].fig
    n0 = len(spike_points(s, 0, 2))
    s.step = True
    assert len(spike_points(s, 0, 3)) > n0, "a step added no conv1 spikes"
    assert "t = 3 ms" in time_readout(s, s.t)


def test_clicking_a_raster_adds_a_trace(dash):
    s = dash.session
    s.traces = []
    tap = dash.raster.taps[-1]
    tap.event(x=10.0, y=7.2)
    assert s.traces[-1] == (len(s.layer_names) - 1, 7)


def test_percentile_changes_activity_table(dash):
    s = dash.session
    s.t = s.timesteps
    before = activity_table(s, s.t)
    s.percentile = 95.0
    after = activity_table(s, s.t)
    assert before != after
    lam_col = [row.split("|")[2].strip() for row in after.splitlines()[2:]]
    assert lam_col == [f"{v:.4g}" for v in s.net.lambdas]
    s.percentile = 99.9


def test_error_shows_as_alert_and_clears(dash):
    s = dash.session
    s.dataset = "mnist1d"
    assert dash.alert.visible and "does not take mnist1d samples" in dash.alert.object
    assert s.dataset != "mnist1d"
    s.sample = 1
    assert not dash.alert.visible


def test_run_uses_a_periodic_callback_and_pause_stops_it(dash):
    s = dash.session
    s.t = 0
    s.run = True
    assert dash._callback is not None and s.running
    s.pause = True
    assert dash._callback is None and not s.running


def test_evaluation_view_fills_confusion_and_curve_click_sets_t():
    s = Session(model="digits-mlp", timesteps=30, eval_samples=60)
    view = EvaluationView(s)
    pn.panel(view).get_root(Document())
    assert "No evaluation yet" in view._summary(None, False)
    s.evaluate(blocking=True)
    hm = view.ann_cm[()]
    assert hm.dimension_values("count").sum() == 60
    assert view.snn_cm[()].dimension_values("share").max() > 0
    assert "SNN accuracy" in view._summary(s.evaluation, False)
    view._t_from_time(x=12.2)
    assert s.t == 12
    view._t_from_ops(x=float(s.evaluation.synaptic_ops[4]))
    assert s.t == 5


def test_views_take_only_a_session():
    s = Session(model="digits-mlp", timesteps=20)
    for View in (RasterView, ActivityView):
        v = View(s)
        assert v.session is s
        pn.panel(v).get_root(Document())


def test_evaluation_updates_every_evaluation_and_energy_plot():
    from widgets import TradeoffView

    s = Session(model="digits-mlp", timesteps=20, eval_samples=60)
    doc = Document()
    for view in (EvaluationView(s), TradeoffView(s)):
        pn.panel(view).get_root(doc)
    s.evaluate(blocking=True)  # raises if a rendered plot cannot take the new data
    s.t = 7
    assert s.error == "", s.error


def test_cursor_moves_stream_only_new_data_and_reuse_the_plots(dash):
    s = dash.session
    s.t = 0
    figs = [p.fig for p in dash.raster.layers] + [dash.membrane.fig, dash.evidence.fig]
    fc2 = dash.raster.layers[-1]  # sparse: one glyph per spike
    conv1 = dash.raster.layers[0]  # dense: one image, columns filled as the cursor moves
    s.t = 10
    assert len(fc2.source.data["time"]) == len(spike_points(s, len(s.layer_names) - 1, 10))
    assert len(dash.evidence.source.data["time"]) == 11, "evidence should show t = 0..10 ms"
    assert len(dash.membrane.source.data["time"]) == 11
    img = conv1.source.data["image"][0]
    assert not np.isnan(img[:, :10]).any() and np.isnan(img[:, 10:]).all()
    s.step = True
    assert not np.isnan(conv1.source.data["image"][0][:, 10]).any(), "step 11 not shown"
    assert len(dash.evidence.source.data["time"]) == 12
    s.t = 4  # scrubbing back replaces the data
    assert np.isnan(conv1.source.data["image"][0][:, 4:]).all(), "steps after t still shown"
    assert len(fc2.source.data["time"]) == len(spike_points(s, len(s.layer_names) - 1, 4))
    assert dash.raster.layers[0].cursor.location == 4 * s.dt_ms
    s.threshold = 0.9  # a new recording reuses every figure
    assert [p.fig for p in dash.raster.layers] + [dash.membrane.fig, dash.evidence.fig] == figs
    s.threshold = 1.0


def test_run_skips_steps_when_frames_are_late():
    import time

    s = Session(model="digits-mlp", timesteps=50, speed=100)
    s.run = True
    s.tick()
    t1 = s.t
    assert t1 >= 1, "the first Run frame shows a step at once"
    time.sleep(0.2)  # a frame 200 ms late at 100 steps/s owes about 20 steps
    s.tick()
    assert 15 <= s.t - t1 <= 30, f"a late frame advanced {s.t - t1} steps, expected ~20"


def test_percentile_hint_points_the_right_way_and_keeps_small_shares():
    from widgets.readout import _pct

    assert _pct(0.001) == "0.1%" and _pct(0.0) == "0%" and _pct(0.25) == "25%"
    s = Session(model="digits-mlp", percentile="max", threshold=0.1)
    hint = s.suggestion()
    assert "try max" not in hint, hint  # already max-norm: no higher percentile to try
    s.param.update(percentile=90.0, threshold=2.0)
    hint = s.suggestion()
    assert "try 99.9" not in hint, hint  # 90 is the lowest: never suggest raising it here


def test_spike_marks_take_their_trace_color():
    from widgets import MembraneView
    from widgets.base import LAYER_COLORS

    s = Session(model="digits-mlp")
    s.traces = []
    s.trace_by_rate(0, "max")
    s.trace_by_rate(1, "max")
    view = MembraneView(s)
    colors = set(view._marks["color"])
    assert colors and colors <= set(LAYER_COLORS[:2]), colors


def test_sweeps_tab_starts_on_the_session_model():
    d = Dashboard(Session(model="lenet5"))
    assert d.tab("Sweeps").settings.model == "lenet5"


def test_activity_tab_follows_model_switches_with_and_without_conv_layers():
    """The spatial maps' layer list follows a new network even when the frame arrives before
    the list is rebuilt (it raised "'conv1' is not in list" and aborted the switch)."""
    d = Dashboard()
    d.tabs.active = 1  # the Activity tab on screen: its views draw on every change
    spatial = d.activity.spatial
    for model, layer in (("digits-mlp", None), ("lenet5", "conv1"), ("digits-cnn", "conv1")):
        d.session.model = model
        assert d.session.model == model and d.session.error == ""
        assert spatial.layer == layer
        title = spatial.pane.object.title.text
        assert (title == "no convolutional layer") == (layer is None), title
