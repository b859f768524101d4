"""The dashboard's Learning rules tab: e-prop vs BPTT and the Manhattan-rule training curve,
trained in a worker thread with progress; Stop ends early and keeps what was done."""

import holoviews as hv
import panel as pn
import pytest

from widgets.learning import (
    FEEDBACKS,
    EncoderExplorer,
    LearningRulesTab,
    eprop_vs_bptt,
    manhattan_curves,
)


@pytest.fixture(scope="module")
def trained(one_thread):
    tab = LearningRulesTab(n_batches=4, epochs=3, autostart=False)
    pn.panel(tab).get_root()
    assert not tab.progress.visible and tab.plots.objects == []
    tab.train.clicks += 1  # the button
    thread = tab.worker
    assert tab.train.disabled and tab.progress.visible
    thread.join(120)
    assert not thread.is_alive(), "training did not finish within 120 s"
    return tab


def plot_elements(tab) -> list:
    """The HoloViews objects drawn in the tab's plot area."""
    return [p.object for p in tab.plots[0].objects if isinstance(p, pn.pane.HoloViews)]


def test_eprop_is_compared_with_bptt_batch_by_batch(trained):
    h = trained.histories
    assert list(h) == [f"e-prop ({fb})" for fb in FEEDBACKS]
    assert all(len(rows) == 4 for rows in h.values())
    sym = [r["w_in/cosine"] for r in h["e-prop (symmetric)"]]
    rnd = [r["w_in/cosine"] for r in h["e-prop (random)"]]
    assert min(sym) > 0.8, f"symmetric e-prop should follow BPTT's gradient, cosines {sym}"
    assert sum(sym) / 4 > sum(rnd) / 4 + 0.3, f"symmetric {sym} vs random {rnd}"
    # the readout gets the exact gradient whatever the feedback
    assert all(r["w_out/rel_deviation"] < 1e-4 for rows in h.values() for r in rows)


def test_manhattan_training_curves_learn(trained):
    c = trained.curves
    assert set(c) == {"backprop (Adam)", "Manhattan", "Manhattan, |w| <= 0.3"}
    assert all(len(a) == 3 for a in c.values())
    assert all(a[-1] > 0.5 for a in c.values()), c  # 10 classes: chance is 0.1
    assert c["Manhattan"][-1] > c["Manhattan"][0], "the Manhattan rule did not learn"


def test_the_tab_shows_both_comparisons_and_the_encoder_explorer(trained):
    assert not trained.train.disabled and trained.stop.disabled
    assert not trained.progress.visible and trained.progress.value == trained.total
    plots = plot_elements(trained)
    assert len(plots) == 3 and all(isinstance(p, hv.Overlay) for p in plots)
    titles = [hv.renderer("bokeh").get_plot(p).state.title.text for p in plots]
    assert titles[0].startswith("cosine of w_in") and "Manhattan" in titles[2], titles
    for p in plots:  # every curve holds finite values
        for curve in p:
            assert len(curve.data) > 0
    assert "mean cosine to BPTT" in trained.status.object
    assert "test accuracy" in trained.status.object
    layout = trained.__panel__()
    assert layout.get_root() is not None
    assert isinstance(trained.encoders, EncoderExplorer)
    assert "Temporal spike encoders" in str([getattr(o, "object", "") for o in layout.objects])


def test_a_second_tab_starts_at_once_and_shows_the_same_runs(trained):
    tab = LearningRulesTab(n_batches=4, epochs=3)  # as the dashboard builds it: autostart
    tab.worker.join(10)
    assert tab.histories is trained.histories and tab.curves is trained.curves
    assert len(plot_elements(tab)) == 3


def test_stop_ends_early_and_keeps_what_was_done(one_thread):
    calls = []
    h = eprop_vs_bptt(5, on_batch=lambda: calls.append(1), stop=lambda: len(calls) >= 2)
    assert {k: len(r) for k, r in h.items()} == {"e-prop (symmetric)": 2}
    assert manhattan_curves(2, stop=lambda: True) == {"backprop (Adam)": []}
    tab = LearningRulesTab(n_batches=2, epochs=1, autostart=False)
    tab._stop.set()
    tab._done(h, {"backprop (Adam)": [0.5]}, None)
    assert tab.status.object.startswith("Stopped early")
    assert len(plot_elements(tab)) == 3


# ------------------------------------------------------------------ the Jets tab (also lazy)
def test_jets_tab_without_a_file_shows_the_synthetic_stand_in_in_words(one_thread, monkeypatch):
    from spikescope import jets
    from widgets.jets import JetsTab, JetsView, _synthetic_comparison

    monkeypatch.delenv(jets.ENV_VAR, raising=False)
    _synthetic_comparison.cache_clear()  # another test may have trained it in this process
    tab = JetsTab()  # no file: the stand-in starts at once
    assert tab.load.disabled and "synthetic stand-in" in tab.status.object
    tab.worker.join(120)
    assert not tab.worker.is_alive(), "the stand-in did not finish within 120 s"
    assert tab.synthetic and tab.status.alert_type == "warning"
    text = tab.status.object
    assert "SYNTHETIC stand-in data (not real jets)" in text and "say nothing about real" in text
    assert "scripts/train\\_jets.py" in text or "scripts/train_jets.py" in text  # how to go real
    view = tab.view
    assert isinstance(view, JetsView) and len(tab.body.objects) == 1
    c = view.comparison
    assert c.n_classes == 5 and 0.6 < c.ann_accuracy < 1.0  # the stand-in is learnable
    assert c.agreement() > 0.9
    # a bad path: a message, and the stand-in stays on screen
    tab.path.value = "/nonexistent/jets.csv"
    tab.start().join(60)
    assert tab.status.alert_type == "danger" and "Could not load" in tab.status.object
    assert tab.view is view and tab.synthetic and not tab.load.disabled
    # Load pressed while the stand-in still trains: the later request's outcome is shown
    tab._loads += 1  # as if another Load had started after this one
    tab._done(view, None, None, tab._loads - 1)
    assert tab.status.alert_type == "danger", "an earlier load overwrote a later one"
