"""Learning-rule lab: e-prop vs BPTT, Manhattan rule, signal encoders, MALA uncertainty."""

import pytest
import torch
from torch import nn

from spikescope import datasets
from spikescope.codes.signal_encoders import decode, encode_signal, sf_encode, tc_encode
from spikescope.training.recurrent import RecurrentSNN, SpikingMLP
from spikescope.training.rules import BPTT, EProp, Manhattan, Trainer, accuracy, compare_gradients
from spikescope.training.sampling import entropy, mala, predictive


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    return torch.rand(16, 20, 5) * 2, torch.randint(0, 3, (16,))


@pytest.mark.parametrize("cell", ["lif", "alif"])
def test_eprop_is_exact_without_recurrence(batch, cell):
    """With no recurrent weights e-prop drops no path: it must equal BPTT."""
    model = RecurrentSNN(5, 12, 3, cell=cell, recurrent=False)
    cmp = compare_gradients(EProp().update(model, batch), BPTT().update(model, batch))
    for name, m in cmp.items():
        assert m["rel_deviation"] < 1e-4, f"{cell} {name}: e-prop differs from BPTT {m}"


def test_symmetric_feedback_beats_random_on_alif(batch):
    model = RecurrentSNN(5, 12, 3, cell="alif", recurrent=True)
    ref = BPTT().update(model, batch)
    sym = compare_gradients(EProp("symmetric").update(model, batch), ref)
    rnd = compare_gradients(EProp("random", seed=1).update(model, batch), ref)
    for w in ("w_in", "w_rec"):
        assert sym[w]["cosine"] > rnd[w]["cosine"], (sym[w], rnd[w])
    assert sym["w_in"]["cosine"] > 0.8


@pytest.fixture(scope="module")
def mnist1d():
    x, y = datasets.load("mnist1d", "train")
    return x[:192], y[:192]


@pytest.mark.parametrize("rule", [BPTT(), EProp("symmetric"), EProp("random"),
                                  EProp("adaptive"), Manhattan(2e-3)], ids=lambda r: r.name)
def test_every_rule_reduces_training_loss_on_mnist1d(mnist1d, rule):
    x, y = mnist1d
    model = RecurrentSNN(1, 24, 10, cell="alif")
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(model(x), y))
    Trainer(model, rule, lr=5e-3).fit(x, y, epochs=2, batch_size=48, progress=False)
    with torch.no_grad():
        after = float(nn.functional.cross_entropy(model(x), y))
    assert after < before - 0.05, f"{rule.name}: loss {before:.3f} -> {after:.3f}"


def test_gradient_comparison_is_tracked_per_batch(mnist1d):
    x, y = mnist1d
    tr = Trainer(RecurrentSNN(1, 16, 10), EProp("symmetric"), lr=1e-3)
    hist = tr.fit(x, y, max_batches=3, batch_size=32, compare_to=BPTT(), progress=False)
    assert len(hist) == 3 and all(-1 <= r["w_in/cosine"] <= 1 for r in hist)
    assert all(r["w_out/rel_deviation"] < 1e-4 for r in hist)  # readout gradient is exact


def _digits_flat():
    xtr, ytr = datasets.load("digits", "train")
    xte, yte = datasets.load("digits", "test")
    return xtr.reshape(len(xtr), -1), ytr, xte.reshape(len(xte), -1), yte


def test_manhattan_mlp_close_to_backprop():
    xtr, ytr, xte, yte = _digits_flat()

    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                             nn.Linear(32, 10))

    bp, mh, bounded = mlp(), mlp(), mlp()
    Trainer(bp, BPTT(), lr=3e-3).fit(xtr, ytr, epochs=12, batch_size=32, progress=False)
    Trainer(mh, Manhattan(1e-3)).fit(xtr, ytr, epochs=30, batch_size=32, progress=False)
    Trainer(bounded, Manhattan(1e-3, g_max=0.3)).fit(xtr, ytr, epochs=30, batch_size=32,
                                                       progress=False)
    acc_bp, acc_mh, acc_b = (accuracy(m, xte, yte) for m in (bp, mh, bounded))
    assert acc_mh >= acc_bp - 0.04, f"Manhattan {acc_mh:.3f} vs backprop {acc_bp:.3f}"
    assert acc_b >= acc_bp - 0.06
    assert max(p.abs().max() for p in bounded.parameters()) <= 0.3 + 1e-6


def test_signal_decoders_improve_as_threshold_shrinks():
    t = torch.linspace(0, 6.28, 200)
    x = torch.stack([torch.sin(t), 0.5 * torch.cos(2 * t)])
    for method, thresholds in [("sf", [0.4, 0.2, 0.1, 0.05]), ("mw", [0.4, 0.2, 0.1, 0.05]),
                               ("tc", [2.0, 1.0, 0.5, 0.0])]:
        res = [encode_signal(x, method, th) for th in thresholds]
        errs = [r["rmse"] for r in res]
        counts = [r["spike_count"] for r in res]
        assert errs[-1] < errs[0], f"{method}: errors {errs}"
        assert counts == sorted(counts), f"{method}: spike counts {counts} not increasing"
    s, thr = sf_encode(x, 0.05)
    assert (decode(s, thr, x[:, 0]) - x).abs().max() <= 0.05 + 0.04  # within threshold + step
    s, _ = tc_encode(torch.ones(1, 10), 0.5)
    assert s.abs().sum() == 0  # a constant signal emits no spike


def test_mala_uncertainty_is_higher_on_errors():
    xtr, ytr, xte, yte = _digits_flat()
    model = SpikingMLP((64, 32, 10), timesteps=6)
    Trainer(model, BPTT(), lr=3e-3).fit(xtr, ytr, epochs=3, batch_size=32, progress=False)
    before = [p.clone() for p in model.parameters()]
    res = mala(model, xtr[:600], ytr[:600], n_samples=20, burn_in=30, progress=False)
    assert 0.05 < res["acceptance"] < 1
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    probs = predictive(model, res["samples"], xte)
    wrong = probs.argmax(1) != yte
    h = entropy(probs)
    assert wrong.any()
    assert h[wrong].mean() > 1.5 * h[~wrong].mean(), (h[wrong].mean(), h[~wrong].mean())
