"""Time-to-first-spike code: exact timing, single spikes, dynamic threshold, clamped ReLU."""

import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope import datasets, zoo
from spikescope.codes.encoders import encode
from spikescope.training.clamped import ClampedReLU, finetune_clamped

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors

TTFS_CODES = ("ttfs", "ttfs-dyn-thresh", "ttfs-clamped")


def _chain(w1: float, w2: float) -> nn.Sequential:
    m = nn.Sequential(nn.Linear(1, 1, bias=False), nn.ReLU(), nn.Linear(1, 1, bias=False))
    m[0].weight.data.fill_(w1)
    m[2].weight.data.fill_(w2)
    return m


@pytest.mark.parametrize("code", TTFS_CODES)
def test_first_spike_times_follow_the_counting_convention(code):
    net = ss.convert(_chain(1.0, 0.5), torch.tensor([[0.25]]), percentile=None, code=code)
    rec = net.run(torch.tensor([[0.25]]), 12)
    first, second = net.first_spike_times(rec)
    assert int(first) == 4, f"input 0.25 should fire first at t = 4, fired at {int(first)}"
    assert int(second) == 5, f"w = 0.5 after a spike at t = 4 should fire at t = 5, got {second}"
    assert rec.spike_trains[0][3, 0, 0] and rec.spike_trains[1][4, 0, 0]


def test_ttfs_input_encoder_spikes_once_at_inverse_intensity():
    x = torch.tensor([[0.25, 1.0, 0.5, 0.0, 1 / 3, 0.01]])
    s = encode(x, 20, "ttfs")
    assert s.sum(0).tolist() == [[1, 1, 1, 0, 1, 0]], "one spike per pixel with 1/a <= T"
    steps = (s.argmax(0) + 1)[0, :5].tolist()
    assert steps[:3] == [4, 1, 2] and steps[4] == 3


def test_ttfs_input_drives_first_layer_with_linear_psp():
    net = ss.convert(_chain(1.0, 0.5), torch.tensor([[0.25]]), percentile=None, code="ttfs")
    # input spike at t = 4; w = 1 -> u(4) = 1 -> the first layer fires at t = 4 too
    rec = net.run(torch.tensor([[0.25]]), 12, encoding="ttfs")
    assert [int(t) for t in net.first_spike_times(rec)] == [4, 5]
    assert float(rec.layer_ops[3, 0]) == 1.0 and float(rec.layer_ops[:, 0].sum()) == 1.0



@pytest.fixture(scope="module")
def data(digits):
    xtr, _, x, y = digits
    return xtr[:512], x[:48], y[:48]


@pytest.mark.parametrize("code", TTFS_CODES)
@pytest.mark.parametrize("stop", [True, False])
def test_no_neuron_ever_fires_twice(data, code, stop):
    xtr, x, _ = data
    opts = {"beta": 0.1} if code == "ttfs-clamped" else {}
    model = zoo.load("digits-cnn" if stop else "digits-mlp")
    net = ss.convert(model, xtr, code=code, stop_on_output=stop, **opts)
    rec = net.run(x, 32, encoding="ttfs", record=("spikes",))
    for name, c, tr in zip(net.layer_names, rec.spike_counts, rec.spike_trains):
        assert int(c.max()) <= 1, f"a neuron of {name} fired {int(c.max())} times"
        assert torch.equal(tr.sum(0).int(), c)
    if stop:
        out = rec.output_counts[-1]
        assert int(out.sum(1).max()) == 1, "at most one output spike per sample"


def test_ttfs_classifies_digits_with_few_operations(data):
    xtr, x, y = data
    model = zoo.load("digits-cnn")
    net = ss.convert(model, xtr, code="ttfs")
    rec = net.run(x, 32, encoding="ttfs", record=())
    rate = ss.convert(model, xtr, code="rate").run(x, 30, record=())
    assert rec.accuracy_curve(y)[-1] >= 0.9
    assert float(rec.synaptic_ops[-1]) * 5 < float(rate.synaptic_ops[-1])


def _abc(code):
    """Thesis Sec. 2.2.2.1: A (a = 2u) and B (a = u) drive C with w_A = 1, w_B = -2."""
    m = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    m[0].weight.data = torch.eye(2)
    m[2].weight.data = torch.tensor([[1.0, -2.0]])
    x = torch.tensor([[0.5, 0.25]])  # A fires at t = 2, B at t = 4; in the ANN C gets 0
    net = ss.convert(m, x, percentile=None, code=code, stop_on_output=False)
    rec = net.run(x, 20)
    (t_a, t_b), t_c = net.first_spike_times(rec)[0][0].tolist(), int(rec.spike_counts[1].sum())
    fired_c = rec.spike_trains[1][:, 0, 0]
    return t_a, t_b, (int(fired_c.float().argmax()) + 1) if t_c else None


def test_base_ttfs_fires_before_the_inhibitory_input_arrives():
    t_a, t_b, t_c = _abc("ttfs")
    assert (t_a, t_b) == (2, 4)
    assert t_c == 2, f"'ttfs' should fire C prematurely at t = 2 (before B at 4), got {t_c}"


def test_dynamic_threshold_waits_for_pending_inputs():
    t_a, t_b, t_c = _abc("ttfs-dyn-thresh")
    assert (t_a, t_b) == (2, 4)
    assert t_c is None or t_c >= t_b, f"C fired at t = {t_c}, before its input B (t = {t_b})"


def test_dynamic_threshold_counts_flag_messages(data):
    xtr, x, _ = data
    net = ss.convert(zoo.load("digits-mlp"), xtr, code="ttfs-dyn-thresh")
    rec = net.run(x, 24)
    flags = rec.extras["threshold_update_ops"]
    assert float(flags[-1]) > 0 and float(flags[-1]) < float(rec.synaptic_ops[-1])


def test_clamped_relu_and_finetuning(data):
    xtr, x, y = data
    _, ytr = datasets.load("digits", "train")
    assert ClampedReLU(0.5)(torch.tensor([0.2, 0.5, 0.75, -1.0])).tolist() == [0, 0, 0.75, 0]
    model = zoo.load("digits-mlp")
    tuned = finetune_clamped(model, xtr[:256], ytr[:256], beta=0.2, epochs=2, progress=False)
    assert tuned.clamp_beta == 0.2 and not any(isinstance(m, ClampedReLU)
                                               for m in tuned.modules())
    assert not torch.equal(tuned[1].weight, model[1].weight), "fine-tuning changed nothing"
    net = ss.convert(tuned, xtr, code="ttfs-clamped", beta=0.2)
    rec = net.run(x, 40, encoding="ttfs", record=("spikes",))
    for l, (lam, tr) in enumerate(zip(net.lambdas[:-1], rec.spike_trains[:-1])):
        late = tr[int(torch.ceil(torch.tensor(lam / 0.2))) - 1:]
        assert not late.any(), f"layer {l} fired after lambda/beta = {lam / 0.2:.1f} steps"
    assert rec.accuracy_curve(y)[-1] > 0.8
    with pytest.raises(ValueError, match="beta"):
        finetune_clamped(model, xtr[:8], ytr[:8], beta=-1.0, progress=False)


@pytest.mark.parametrize("code,encoding", [("ttfs", "ttfs"), ("ttfs", "analog"),
                                           ("ttfs-dyn-thresh", "analog"),
                                           ("ttfs-dyn-thresh", "ttfs"),
                                           ("ttfs-clamped", "ttfs")])
def test_run_equals_stepping(data, code, encoding):
    xtr, x, _ = data
    net = ss.convert(zoo.load("digits-cnn"), xtr, code=code)
    rec = net.run(x[:16], 20, encoding=encoding, record=("spikes",))
    net.reset(16, record=("spikes",))
    if encoding == "ttfs":
        net.expect_input(x[:16])  # what run() knows: which input pixels will still spike
    for x_t in encode(x[:16], 20, encoding):
        net.step(x_t)
    stepped = net.recording
    for a, b in zip(rec.spike_trains, stepped.spike_trains):
        assert torch.equal(a, b)
    torch.testing.assert_close(rec.synaptic_ops, stepped.synaptic_ops)
    assert torch.equal(rec.all_predictions(), stepped.all_predictions())


def _abc_run(code):
    m = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    m[0].weight.data = torch.eye(2)
    m[2].weight.data = torch.tensor([[1.0, -2.0]])
    x = torch.tensor([[0.5, 0.25]])
    net = ss.convert(m, x, percentile=None, code=code, stop_on_output=False)
    return net, net.run(x, 12, record=("spikes",))


def test_threshold_updates_counted_per_flag_change_times_fan_out():
    """A and B (fan-out 1 each) flag "expect a spike" at step 1 (positive slope): 2 changes x
    fan-out 1. Their flags come down with their own spikes (t = 2, 4), which costs nothing
    more, so the threshold updates are 2 operations and the only difference to base."""
    _, base = _abc_run("ttfs")
    _, dyn = _abc_run("ttfs-dyn-thresh")
    flags = dyn.extras["threshold_update_ops"]
    assert flags.tolist() == [2.0] * 12, f"flag ops by step: {flags.tolist()}"
    torch.testing.assert_close(dyn.synaptic_ops - base.synaptic_ops, flags)


def test_ready_step_marks_spikes_held_by_the_dynamic_threshold():
    net, dyn = _abc_run("ttfs-dyn-thresh")
    (t_a, t_b), (t_c,) = (t[0].tolist() for t in net.first_spike_times(dyn))
    ready_c = int(dyn.extras["ready_step"][1][0, 0])
    assert ready_c == t_a, f"C's membrane reaches theta on A alone (t = {t_a}), got {ready_c}"
    assert t_c == t_b, f"the raised threshold holds C until B arrives (t = {t_b}), got {t_c}"
    net, base = _abc_run("ttfs")
    for times, ready in zip(net.first_spike_times(base), base.extras["ready_step"]):
        assert torch.equal(times, ready.to(times.dtype)), "base: ready step is the spike step"


def test_clamped_deadline_follows_the_time_grid():
    """A normalized activation a fires at theta / a, so beta's deadline is theta lambda / beta:
    doubling the threshold doubles it, and no hidden spike comes at or after it."""
    x = torch.tensor([[0.3], [0.05], [0.9]])
    nets = [ss.convert(_chain(1.0, 0.5), x, code="ttfs-clamped", beta=0.1, threshold=th)
            for th in (1.0, 2.0)]
    d1, d2 = (n.spike_code.fire_deadline(0) for n in nets)
    assert d2 == pytest.approx(2 * d1) and d1 == pytest.approx(nets[0].lambdas[0] / 0.1)
    rec = nets[1].run(x, 80, record=("spikes",))
    late = rec.spike_trains[0][int(torch.ceil(torch.tensor(d2))) - 1:]
    assert not late.any(), f"a hidden spike at or after the deadline t = {d2:.1f}"
    assert rec.spike_trains[0].any(), "the hidden layer never fired"
