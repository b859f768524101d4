"""Run comparison without a browser: the bounded run history, the table and labels of the
differing parameters, and the URL forms of a pinned configuration and of traced neurons
(round trip, and refusal of crafted values)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest

from widgets.compare import ACCURACY_TITLE, CompareView, accuracy_plot
from widgets.history import (
    EVIDENCE_CLASSES,
    HISTORY_SIZE,
    LIVE,
    decode_pin,
    decode_traces,
    diff_rows,
    encode_pin,
    encode_traces,
    run_labels,
    simulate,
)
from widgets.session import CHOICES, Session


@pytest.fixture(scope="module")
def session(one_thread):
    return Session(model="digits-mlp", timesteps=40, eval_samples=10)


@pytest.fixture()
def view(session):
    session.param.update(code="rate", percentile=99.9, reset="subtract", sample=0)
    return CompareView(session)


def test_pin_then_switch_code_compares_both_runs_with_labels_and_curves(view, session):
    session.evaluate(blocking=True)
    pinned = view.pin()
    assert pinned.evaluation is not None, "the evaluation of this configuration was not kept"
    session.code = "ttfs"
    a, b = view.history.compared()
    assert (a.name, b.name) == (pinned.name, LIVE)
    assert b.evaluation is None, "the rate code's evaluation was shown as the ttfs run's"
    session.evaluate(blocking=True)
    a, b = view.history.compared()
    assert b.evaluation is not None
    labels = run_labels(a, b)
    assert labels == (f"rate ({pinned.name})", "ttfs (live)")
    assert diff_rows(a, b) == [("code", "rate", "ttfs")]
    plot = accuracy_plot((a, b), labels)
    curves = [el for el in plot if isinstance(el, hv.Curve)]
    assert [c.label for c in curves] == list(labels)
    for c, run in zip(curves, (a, b)):
        assert np.allclose(c.dimension_values(1), 100 * run.evaluation.accuracy)
    assert plot.opts.get().kwargs["title"] == ACCURACY_TITLE


def test_sample_change_keeps_the_evaluation_a_code_change_does_not(view, session):
    session.evaluate(blocking=True)
    assert view.history.live_evaluation() is not None
    session.sample = 3  # the evaluation does not depend on the sample shown
    assert view.history.live_evaluation() is not None
    session.reset = "zero"
    assert view.history.live_evaluation() is None


def test_history_is_bounded_and_labels_name_the_differing_parameters(view, session):
    for s in range(HISTORY_SIZE + 2):
        session.sample = s
        view.pin()
    names = [r.name for r in view.history.runs]
    assert len(names) == HISTORY_SIZE
    assert names == [f"pin {i}" for i in range(3, HISTORY_SIZE + 3)], names
    assert view.history.names()[-1] == LIVE
    session.param.update(sample=0, percentile=99.0)
    view.pin()
    session.percentile = 99.9
    a, b = view.history.compared()
    assert run_labels(a, b) == (f"p99 ({a.name})", "p99.9 (live)")
    assert diff_rows(a, b) == [("percentile", "99", "99.9")]
    view.history.b = a.name  # the same run twice: only names
    assert run_labels(*view.history.compared()) == (a.name, a.name)
    # the snapshot is small: per-step totals and class evidence, no spike trains
    assert a.layer_spikes.shape == (session.timesteps, len(session.layer_names))
    assert a.evidence.shape == (session.timesteps + 1, len(a.classes))
    assert len(a.classes) <= EVIDENCE_CLASSES


def test_pin_url_round_trip(session):
    session.param.update(code="rate", percentile=99.9, reset="subtract", sample=0)
    live = {k: getattr(session, k) for k in CHOICES}
    pinned = dict(live, code="ttfs", percentile=99.0, reset="zero", threshold=0.8)
    text = encode_pin(pinned, live)
    assert text == "code:ttfs,percentile:99,threshold:0.8,reset:zero"
    assert decode_pin(text, session) == pinned
    assert encode_pin(live, live) == "same" and decode_pin("same", session) == live


def test_traces_url_round_trip(session):
    n = session.net.n_neurons
    traces = [(0, 10), (len(n) - 1, 7)]
    text = encode_traces(traces)
    assert text == f"0-10,{len(n) - 1}-7"
    assert decode_traces(text, n, session.max_traces) == traces
    assert decode_traces(encode_traces([]), n, 6) == []


@pytest.mark.parametrize("text, words", [
    ("code:<script>alert(1)</script>", "is not parameter:value"),
    ("code:nope", "is not offered"),
    ("model:../../etc/passwd", "is not parameter:value"),
    ("error:x", "is not a run parameter"),
    ("sample:99999", "outside"),
    ("threshold:nan", "outside"),
    ("threshold:1e999", "outside"),
    ("timesteps:ten", "not a number"),
    ("code:rate,code:ttfs", "given twice"),
    ("code:rate," * 60, "too long"),
    ("", "empty"),
])
def test_crafted_pins_are_refused_in_words(session, text, words):
    with pytest.raises(ValueError, match=words):
        decode_pin(text, session)


@pytest.mark.parametrize("text, words", [
    ("0-999999999", "no neuron"),
    ("99-1", "no layer"),
    ("0-1,0-2,0-3,0-4,0-5,0-6,0-7", "at most 6"),
    ("0-1;<img src=x onerror=alert(1)>", "is not layer-neuron"),
    ("2.15", "is not layer-neuron"),
    ("-1-3", "is not layer-neuron"),
    ("0-1," * 80, "too long"),
])
def test_crafted_traces_are_refused_in_words(session, text, words):
    with pytest.raises(ValueError, match=words):
        decode_traces(text, session.net.n_neurons, session.max_traces)


def test_simulate_reruns_a_pinned_configuration_and_refuses_one_that_does_not_run(session):
    params = dict({k: getattr(session, k) for k in CHOICES}, code="ttfs")
    run = simulate(params, "pin 9", eval_samples=10)
    assert run.params["code"] == "ttfs" and run.evaluation is not None
    assert run.evaluation.n_samples == 10 and len(run.evaluation.accuracy) == 40
    assert set(run.evaluation.edp_js) >= {"Loihi"}
    with pytest.raises(ValueError, match="does not accept input"):
        simulate(dict(params, dataset="mnist1d"), "pin 10")


def test_the_comparison_is_drawn_only_on_screen_and_only_when_its_runs_change(view, session):
    view.pin()
    session.sample = 1
    drawn = view.body.objects[0]
    view.on_screen = False  # its tab is hidden: changes wait
    session.sample = 2
    assert view.body.objects[0] is drawn
    view.on_screen = True  # shown again: drawn once, with the live run of now
    assert view.body.objects[0] is not drawn
    view.pin()
    view.history.b = view.history.runs[0].name  # two pinned runs: the live run does not count
    drawn = view.body.objects[0]
    session.sample = 3
    assert view.body.objects[0] is drawn


def test_rate_vs_pattern_draws_every_plot(view, session):
    """The pattern code answers by its output membrane: evidence of another kind."""
    session.evaluate(blocking=True)
    pinned = view.pin()
    session.code = "pattern"
    session.evaluate(blocking=True)
    a, b = view.history.compared()
    assert run_labels(a, b) == (f"rate ({pinned.name})", "pattern (live)")
    assert b.membrane_readout and not a.membrane_readout
    assert a.evaluation is not None and b.evaluation is not None
    plots = [pane.object for row in view.body.objects[0].objects[1:] for pane in row.objects]
    assert len(plots) == 7  # accuracy, error vs ops, EDP, spikes x 2, class evidence x 2
    for plot in plots:
        hv.render(plot, backend="bokeh")
