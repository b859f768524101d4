"""A session's memory: bounded (evaluation results as curves, a per-session budget), returned
when its page closes, and the automatic T limit shown for as long as it applies."""

import gc
import weakref

import numpy as np
import pytest
import torch

from spikescope import energy
from spikescope.sim.merge import RunTotals, merge_recordings
from widgets import Session
from widgets import session as session_mod
from widgets.catalog import EVAL_BYTES_PER_NEURON, nbytes
from widgets.evaluation import EARLY_KS


@pytest.fixture(scope="module")
def session(one_thread):
    return Session(model="digits-cnn", timesteps=30)


def test_run_totals_equal_the_merged_recording(session):
    net, _ = session.network()
    x, y = session._dataset(session.dataset, "test")
    batches = [(x[:7], y[:7]), (x[7:20], y[7:20])]  # unequal sizes: weighted means
    recs = [net.run(xb, 30, record=()) for xb, _ in batches]
    totals = RunTotals()
    for rec, (_, yb) in zip(recs, batches):
        totals.add(rec, yb)
    merged = merge_recordings(recs)
    assert totals.n_samples == 20
    assert np.allclose(totals.accuracy_curve(), merged.accuracy_curve(y[:20]))
    assert np.allclose(totals.synaptic_ops, merged.synaptic_ops.double().numpy())
    assert torch.equal(totals.predictions, merged.predictions())
    platform = session.param.platform.objects[0]
    want = energy.tradeoff(merged, y[:20], platform)
    got = energy.tradeoff_curves(totals.accuracy_curve(), totals.synaptic_ops, totals.spikes,
                                 totals.dt_ms, platform)
    assert np.allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float)), \
        "the trade-off table from the curves differs from the one of the merged recording"
    with pytest.raises(ValueError, match="3 labels for a batch of 7"):
        totals.add(recs[0], y[:3])


def test_evaluation_size_does_not_grow_with_samples_times_neurons(one_thread):
    sizes = {}
    for model in ("digits-mlp", "digits-cnn"):  # 3,146 neurons in the CNN, ~100 in the MLP
        s = Session(model=model, timesteps=20)
        for n in (30, 120):
            s.eval_samples = n
            s.evaluate(blocking=True)
            sizes[model, n] = nbytes(s.evaluation)
            assert s.evaluation.n_samples == n and s.evaluation.accuracy_curve.shape == (20,)
            assert s.tradeoff() is not None and len(s.tradeoff()) == 20
    assert sizes["digits-mlp", 30] == sizes["digits-cnn", 30], \
        f"the evaluation's size depends on the network's neurons: {sizes}"
    # per sample its label (8 bytes) and its early decision for each lead k (8 bytes), and
    # the fixed curves and confusions
    per_sample = 8 + 8 * len(EARLY_KS)
    assert sizes["digits-cnn", 120] - sizes["digits-cnn", 30] == per_sample * 90, sizes
    assert sizes["digits-cnn", 120] < per_sample * 120 + 2 * 8 * 100 + 3 * 8 * 20 + 1000, sizes


def test_close_frees_the_session_and_stops_its_evaluation(one_thread):
    s = Session(model="digits-cnn", timesteps=30, eval_samples=360)
    s.percentile = 99.0  # two networks in the cache
    net = weakref.ref(s.net)
    assert s.memory_bytes() > 0
    s.evaluate(batch_size=10)  # a background thread, still running when the page closes
    s.close()
    s._eval_thread.join(30)
    assert not s._eval_thread.is_alive(), "the evaluation kept running after close"
    assert s.evaluation is None, "a cancelled evaluation of a closed session left a result"
    assert s.memory_bytes() == 0 and not s._nets and s.recording is None
    gc.collect()
    assert net() is None, "a converted network outlives its closed session"


def test_budget_refuses_with_a_message_and_the_session_keeps_working(one_thread):
    s = Session(model="digits-cnn", timesteps=30, eval_samples=60)
    neurons = sum(s.net.n_neurons)
    held = s.memory_bytes()
    s.memory_budget = held + 7 * neurons * EVAL_BYTES_PER_NEURON  # 7 samples at a time fit
    assert s.eval_batch_size() == 7
    s.memory_budget = held + neurons * EVAL_BYTES_PER_NEURON // 2  # not even one sample
    s.evaluate()
    assert not s.eval_running and s.evaluation is None
    assert "MB per test sample" in s.error and "SPIKESCOPE_SESSION_MEMORY_BYTES" in s.error, \
        s.error
    s.memory_budget = held // 2  # not even the network shown fits: no other one is converted
    s.percentile = 99.0
    assert s.percentile == 99.9 and "memory budget" in s.error, s.error
    s.error = ""
    s.step = True
    assert s.t == 1 and not s.error


def test_network_cache_stays_within_the_budget(one_thread):
    s = Session(model="digits-cnn", timesteps=30)
    one = nbytes(s._nets)
    s.memory_budget = s.memory_bytes() + one + one // 2  # room for one more network
    for p in (99.0, 99.5, 99.99, "max"):
        s.percentile = p
        assert not s.error, s.error
        assert s.memory_bytes() <= s.memory_budget and len(s._nets) <= 2, len(s._nets)


def test_t_limit_note_stays_while_the_limit_applies(monkeypatch, one_thread):
    monkeypatch.setattr(session_mod, "MAX_TRAIN_CELLS", 3146 * 150)
    s = Session(model="digits-cnn", timesteps=100)
    s.timesteps = 400
    assert s.timesteps == 150 and "limited to 150 steps" in s.notice
    assert session_mod.TRAIN_CELLS_ENV in s.notice, "the note does not say how to raise it"
    for change in ({"percentile": 99.0}, {"sample": 3}, {"threshold": 0.8}):
        s.param.update(**change)
        assert s.timesteps == 150 and "limited to 150 steps" in s.notice, \
            f"the T limit note vanished after {change} while T stays limited"
    s.timesteps = 120  # a T that fits: no limit applies any more
    assert "limited" not in s.notice, s.notice


def test_early_decision_of_an_evaluation_equals_the_policy_on_the_whole_run(session):
    """The evaluation keeps each sample's early decision per lead k (not the recording); the
    table priced from it equals energy.early_decision_curve on the merged recording (ops to
    0.5%: per-sample ops without spike trains use each batch's mean ops per spike)."""
    session.eval_samples = 70
    session.evaluate(blocking=True, batch_size=30)  # batches of 30, 30 and 10
    platform = session.param.platform.objects[0]
    got = session.early_decision(platform)
    net, _ = session.network()
    x, y = session._dataset(session.dataset, "test")
    recs = [net.run(x[i:min(i + 30, 70)], 30, record=()) for i in range(0, 70, 30)]
    want = energy.early_decision_curve(merge_recordings(recs), y[:70], platform, ks=EARLY_KS)
    exact = ["k", "accuracy", "decided", "steps", "delay_s"]
    assert np.allclose(got[exact].to_numpy(float), want[exact].to_numpy(float), rtol=1e-6)
    for col in ("synaptic_ops", "energy_j", "edp_js"):
        assert np.allclose(got[col], want[col], rtol=5e-3), col
    assert list(got["steps"]) == sorted(got["steps"]), "a larger lead cannot stop earlier"
    session.code = "pattern"  # membrane readout: no spike lead, no early decision
    session.evaluate(blocking=True)
    assert session.early_decision(platform) is None
