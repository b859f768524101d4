"""The dashboard's view-model (widgets.session.Session), without Panel or a browser."""

import numpy as np
import pytest
import torch

from spikescope import datasets, zoo
from spikescope.codes.encoders import ENCODERS
from spikescope.sim.network import CODES
from widgets.session import PERCENTILES, Session, percentile_value


@pytest.fixture(scope="module")
def session(one_thread):
    return Session(model="digits-mlp", timesteps=60)


def test_choices_come_from_the_registries(session):
    assert session.param.model.objects == zoo.names() + zoo.snn_names()
    assert session.param.dataset.objects == datasets.names()
    assert session.param.code.objects == list(CODES)
    # static digits: every encoding but "events" (offered only for event data)
    assert session.param.encoding.objects == [e for e in ENCODERS if e != "events"]
    assert session.dataset == zoo.dataset_of("digits-mlp")


def test_percentile_choices_map_to_convert_arguments():
    assert percentile_value("max") == 100.0
    assert percentile_value("off") is None
    assert percentile_value(99.9) == 99.9
    numeric = [p for p in PERCENTILES if not isinstance(p, str)]
    assert numeric == sorted(numeric) and numeric[0] == 90.0 and numeric[-1] > 99.9


def test_step_run_pause_reset_move_the_cursor(session):
    session.reset_run = True
    assert session.t == 0
    session.step = True
    session.step = True
    assert session.t == 2
    assert session.spikes_at(2) > 0, "two steps of the default digit produced no spike"
    session.run = True
    assert session.running
    session.tick()
    assert session.t > 2
    session.pause = True
    assert not session.running
    t = session.t
    session.tick()
    assert session.t == t, "tick advanced the cursor while paused"
    session.t = session.timesteps - 1
    session.run = True
    for _ in range(5):
        session.tick()
    assert session.t == session.timesteps and not session.running, "Run did not stop at T"
    session.step = True
    assert session.t == session.timesteps, "Step moved past T"


def test_percentile_changes_lambdas_and_rates(session):
    session.percentile = 99.9
    lam, rates = list(session.net.lambdas), session.activity(session.timesteps)
    session.percentile = 90.0
    lam90, rates90 = list(session.net.lambdas), session.activity(session.timesteps)
    assert all(a < b for a, b in zip(lam90, lam)), "lower percentile should give smaller lambdas"
    assert rates90[0]["rate_hz"] > rates[0]["rate_hz"], "smaller lambda should raise rates"
    session.percentile = "off"
    assert session.net.lambdas == [1.0] * len(lam)
    session.percentile = 99.9
    assert session.net.lambdas == lam, "cached network for 99.9 changed"


def test_networks_are_cached_per_parameter_set(session):
    net = session.network()[0]
    session.threshold = 0.9
    assert session.network()[0] is not net
    session.threshold = 1.0
    assert session.network()[0] is net, "returning to a parameter set re-converted"


def test_encoding_changes_the_spikes(session):
    session.encoding = "analog"
    analog = session.recording.spike_trains[0].clone()
    session.encoding = "poisson"
    assert not torch.equal(analog, session.recording.spike_trains[0])
    session.encoding = "analog"


def test_user_errors_become_messages_and_the_session_keeps_working(session):
    rec = session.recording
    with pytest.raises(ValueError, match="at most 359"):  # only valid samples are offered
        session.sample = 10_000
    assert session.recording is rec and session.sample != 10_000
    session.sample = 3
    assert session.error == "" and session.recording is not rec
    with pytest.raises(ValueError):  # no events encoding offered for static digits
        session.encoding = "events"
    rec = session.recording
    session.dataset = "mnist1d"  # a data set the model does not take: back, in words
    assert "digits-mlp does not take mnist1d samples" in session.error
    assert "Back to dataset 'digits'" in session.error
    assert session.dataset == "digits" and session.recording is rec
    session.sample = 4
    assert session.error == "" and session.recording is not rec
    with pytest.raises(ValueError):
        session.threshold = -1.0  # out of the parameter's bounds


def test_traces_by_click_and_by_rate(session):
    session.traces = []
    session.add_trace(0, 5)
    assert session.traces == [(0, 5)]
    session.add_trace(0, 10**6)
    assert "no neuron" in session.error and session.traces == [(0, 5)]
    session.error = ""
    session.trace_by_rate(0, "max")
    top = int(np.argmax(session.counts_at(session.t or session.timesteps)[0]))
    assert session.traces[-1] == (0, top)
    for i in range(10):
        session.add_trace(1, i)
    assert len(session.traces) == session.max_traces


def test_activity_and_suggestion(session):
    session.percentile = 90.0
    act = session.activity(session.timesteps)
    assert [a["layer"] for a in act] == session.layer_names
    assert all(0 <= a["saturated"] <= 1 and 0 <= a["silent"] <= 1 for a in act)
    assert all(a["rate_hz"] <= 1000.0 / session.dt_ms for a in act)
    hint = session.suggestion()
    assert "percentile" in hint.lower() and any(n in hint for n in session.layer_names)
    session.percentile = 99.9


def test_decoded_input_converges_to_the_input(session):
    session.encoding = "analog"
    assert np.allclose(session.decoded_input(session.timesteps), session.input_image(),
                       atol=1e-6)


def test_evaluation_blocking_and_cancel():
    s = Session(model="digits-mlp", timesteps=40, eval_samples=60)
    s.evaluate(blocking=True)
    ev = s.evaluation
    assert ev is not None and not s.eval_running and s.eval_progress == 1.0
    assert ev.ann_confusion.shape == ev.snn_confusion.shape == (10, 10)
    assert ev.ann_confusion.sum() == 60
    assert ev.accuracy_curve.shape == (40,) and ev.synaptic_ops.shape == (40,)
    assert ev.accuracy_curve[-1] > 0.5, f"SNN accuracy only {ev.accuracy_curve[-1]:.2f}"
    assert np.all(np.diff(ev.synaptic_ops) >= 0), "cumulative synaptic ops decreased"
    if s.param.platform.objects:
        df = s.tradeoff()
        assert len(df) == 40 and (df["edp_js"] > 0).all()
    # cancel: a thread that is cancelled before its first batch returns no result
    s2 = Session(model="digits-mlp", timesteps=40, eval_samples=360)
    s2._cancel.set()
    s2._evaluate(s2.network_key(), "analog", 40, 360, 60, lambda fn: fn())
    s2.cancel_evaluation()
    s2.evaluate()  # background thread
    s2.cancel_evaluation()
    s2._eval_thread.join(30)
    assert not s2.eval_running and s2.evaluation is None, "cancelled evaluation left a result"


def test_slider_floats_are_stored_rounded(session):
    session.threshold = 0.7999999999999999  # 16 steps of 0.05 from 0 in binary floats
    assert session.threshold == 0.8 and session.param.threshold.serialize(0.8) == 0.8
    session.threshold = 1.0
