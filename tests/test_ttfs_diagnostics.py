"""Issue 23: why the TTFS variants order as they do (thesis Sec. 2.2, Table 2.3)."""

import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope import datasets, zoo
from spikescope.codes.ttfs_diagnostics import COLUMNS, decision_time_errors, ttfs_diagnostics

N_TEST, T = 60, 30


def _abc_net(code):
    """Sec. 2.2.2.1: A and B drive C with w_A = 1, w_B = -2; a_A = 2 u, a_B = u (u = 1/4)."""
    m = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    m[0].weight.data = torch.eye(2)
    m[2].weight.data = torch.tensor([[1.0, -2.0]])
    x = torch.tensor([[0.5, 0.25]])  # A fires at t = 2, B at t = 4; in the ANN C gets 0
    return m, x, ss.convert(m, x, percentile=None, code=code, stop_on_output=False)


@pytest.mark.parametrize("code", ["ttfs", "ttfs-dyn-thresh"])
def test_abc_case_base_premature_dyn_thresh_not(code):
    m, x, net = _abc_net(code)
    rec = net.run(x, 20, record=("spikes",))
    (t_a, t_b), (t_c,) = (t[0].tolist() for t in net.first_spike_times(rec))
    assert (t_a, t_b) == (2, 4)
    table = ttfs_diagnostics(net, m, x, rec)
    assert list(table.columns) == list(COLUMNS)
    out = table.iloc[-1]
    if code == "ttfs":
        assert t_c == 2, "base: C fires on A alone, before the inhibitory B arrives"
        assert out.premature == 1.0 and out.spurious == 1.0 and out.held == 0.0
    else:
        assert t_c == 0 or t_c >= t_b, f"dyn thresh fired C at {t_c}, before B ({t_b})"
        assert out.premature == 0.0
        if t_c:  # held from t = 2 (theta reached on A alone) to B's arrival
            assert out.held == 1.0 and out.hold_steps == t_c - t_a


@pytest.fixture(scope="module")
def lenet():
    xtr, _ = datasets.load("digits28", "train")
    x, y = datasets.load("digits28", "test")
    return zoo.load("lenet5"), xtr[:500], x[:N_TEST], y[:N_TEST]


def _runs(model, xtr, x, diagnose=True):
    out = {}
    for code in ("ttfs", "ttfs-dyn-thresh"):
        net = ss.convert(model, xtr, code=code, percentile=99.9)
        rec = net.run(x, T, encoding="analog", record=("spikes",) if diagnose else ())
        out[code] = net, rec, ttfs_diagnostics(net, model, x, rec) if diagnose else None
    return out


def _err(rec, y):
    return float((rec.predictions() != y).float().mean()) * 100


def test_lenet5_digits28_base_close_to_ann_and_why_dyn_thresh_loses(lenet):
    model, xtr, x, y = lenet
    with torch.no_grad():
        ann = float((model(x).argmax(1) != y).float().mean()) * 100
    runs = _runs(model, xtr, x)
    (_, base, d_base), (_, dyn, d_dyn) = runs["ttfs"], runs["ttfs-dyn-thresh"]
    assert _err(base, y) <= ann + 2, f"base {_err(base, y):.1f}% vs ANN {ann:.1f}%"
    assert float(d_base.undecided.iloc[-1]) == 0 and float(d_dyn.undecided.iloc[-1]) == 0
    assert (d_base.held == 0).all(), "base has no raised threshold to hold a spike"
    if _err(dyn, y) > _err(base, y):
        # the diagnostics that explain it: the raised thresholds (eq. 2.28) hold most
        # hidden spikes past the step their membrane reached theta, the decision waits more
        # than twice as long, first-spike times carry the wait (lower correlation with the
        # ANN), and with linear PSPs (eq. 2.25) a later read of the same base hidden
        # layers is a worse one: waiting does not buy accuracy on these data
        hidden = d_dyn.iloc[1:-1]
        assert (hidden.held > 0.5).all(), f"held share per hidden layer: {hidden.held.tolist()}"
        t_base, t_dyn = d_base.decision_t.iloc[-1], d_dyn.decision_t.iloc[-1]
        assert t_dyn > 2 * t_base
        assert d_dyn["corr"].iloc[1:-1].mean() < d_base["corr"].iloc[1:-1].mean()
        late = decision_time_errors(model, xtr, x, y, T, code="ttfs", percentile=99.9)
        at_base, at_dyn = late[round(t_base)], late[round(t_dyn)]
        assert at_dyn > at_base, (f"base hidden layers read at the dyn-thresh decision step "
                                  f"({at_dyn:.1f} %) should be worse than at base's "
                                  f"({at_base:.1f} %)")


def test_sparse_input_thesis_ordering_holds(lenet):
    model, xtr, x, y = lenet
    sparse = lambda z: z * (z > 0.5)  # noqa: E731  digits28 with a threshold: 30% non-zero
    runs = _runs(model, sparse(xtr), sparse(x), diagnose=False)
    (_, base, _), (_, dyn, _) = runs["ttfs"], runs["ttfs-dyn-thresh"]
    assert _err(dyn, y) <= _err(base, y)
    flags = float(dyn.extras["threshold_update_ops"][-1])
    assert 0 < flags < float(dyn.synaptic_ops[-1])
