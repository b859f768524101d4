import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope import metrics


@pytest.fixture(scope="module")
def cnn_net(digits, digits_cnn):
    return ss.convert(digits_cnn, digits[0][:500], percentile=99.9)


def test_step_by_step_equals_run(cnn_net, digits):
    x = digits[2][:16]
    rec = cnn_net.run(x, 30, neurons={0: [3, 100], 2: [5]})
    cnn_net.reset(16, neurons={0: [3, 100], 2: [5]})
    for _ in range(30):
        cnn_net.step(x)
    step_rec = cnn_net.recording
    for a, b in zip(rec.spike_trains, step_rec.spike_trains):
        assert torch.equal(a, b)
    assert torch.equal(rec.output_counts, step_rec.output_counts)
    assert torch.allclose(rec.membrane[0], step_rec.membrane[0])
    assert rec.membrane[1].shape == (30, 16, 0) and rec.membrane[2].shape == (30, 16, 1)
    assert torch.allclose(rec.synaptic_ops, step_rec.synaptic_ops)


def test_poisson_steps_equal_run_and_are_seeded(cnn_net, digits):
    from spikescope.codes.encoders import encode

    x = digits[2][:4]
    rec = cnn_net.run(x, 20, encoding="poisson", seed=3, record=("spikes",))
    again = cnn_net.run(x, 20, encoding="poisson", seed=3, record=("spikes",))
    assert torch.equal(rec.output_counts, again.output_counts)
    inputs = encode(x, 20, "poisson", seed=3)
    assert torch.allclose(inputs.mean(0), x, atol=0.35)  # rate ~ intensity
    cnn_net.reset(4, record=("spikes",))
    for t in range(20):
        cnn_net.step(inputs[t])
    assert torch.equal(cnn_net.recording.output_counts, rec.output_counts)


def test_zero_delay_spike_crosses_network_in_one_step():
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        for m in model[::2]:
            m.weight.fill_(1.0)
            m.bias.zero_()
    net = ss.convert(model, torch.ones(1, 1), percentile=None)
    rec = net.run(torch.ones(1, 1), 1)
    assert [int(c.sum()) for c in rec.spike_counts] == [1, 1, 1]


def test_first_layer_rates_match_activations_within_1_over_T(cnn_net, digits):
    x = digits[2][:20]
    T = 100
    rec = cnn_net.run(x, T, record=())
    target = cnn_net.ann_activations(x)[0].clamp(max=1)
    rate = rec.spike_counts[0].float() / T
    assert (rate - target).abs().max() <= 1 / T + 1e-5


def test_hidden_layer_correlation_at_T200(cnn_net, digits_cnn, digits):
    x = digits[2][:100]
    rec = cnn_net.run(x, 200, record=())
    corr = metrics.activation_correlation(cnn_net, digits_cnn, x, rec)
    assert all(c >= 0.99 for c in corr[:-1]), f"ANN-SNN correlation per layer: {corr}"


def test_snn_accuracy_close_to_ann(cnn_net, digits, digits_cnn):
    _, _, xte, yte = digits
    rec = cnn_net.run(xte, 200, record=())
    ann = (digits_cnn(xte).argmax(1) == yte).float().mean().item()
    snn = rec.accuracy_curve(yte)[-1]
    assert abs(snn - ann) <= 0.01, f"SNN {snn:.4f} vs ANN {ann:.4f} at T=200"


def test_percentile_converges_faster_than_max_norm(digits, digits_cnn):
    """Thesis Fig. 2.4: robust (99.9th percentile) normalization reaches the ANN sooner."""
    xtr, _, xte, yte = digits
    ann = (digits_cnn(xte).argmax(1) == yte).float().mean().item()

    def steps_to_ann(p):
        acc = ss.convert(digits_cnn, xtr, percentile=p).run(xte, 60, record=()).accuracy_curve(yte)
        ok = (acc >= ann - 0.02).nonzero()[0]
        return int(ok[0]) + 1 if len(ok) else 10**9

    robust, maxnorm = steps_to_ann(99.9), steps_to_ann(100)
    assert robust < maxnorm, f"p=99.9 needs {robust} steps, max-norm {maxnorm}"


def test_synaptic_ops_are_spikes_times_fan_out(cnn_net, digits):
    x = digits[2][:3]
    rec = cnn_net.run(x, 25)
    total = 0.0
    for l in range(len(cnn_net.stages)):
        spikes = rec.spike_trains[l].float()  # (T, B, N)
        total += (spikes * cnn_net.fan_outs[l]).sum() / 3
    inp = (x.reshape(3, -1) > 0).float() @ cnn_net.input_fan_out * 25 / 3
    assert rec.synaptic_ops[-1].item() == pytest.approx(float(total + inp.sum()), rel=1e-5)
    assert (rec.synaptic_ops.diff() >= 0).all()


def test_interior_fan_out_of_3x3_conv_is_144():
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 16, 3, padding=1))
    fo = metrics.fan_outs(model, (2, 12, 12))[1].reshape(8, 12, 12)
    assert fo[0, 5, 5] == 144 and fo[0, 0, 0] == 4 * 16 and fo[0, 0, 5] == 6 * 16
    strided = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 16, 3, stride=2))
    fo2 = metrics.fan_outs(strided, (1, 11, 11))[1].reshape(4, 9, 9)
    # with stride 2 an interior input is seen by 2x2 or fewer output positions
    assert fo2[0, 4, 4] == 4 * 16 and fo2[0, 3, 3] == 1 * 16


def test_ann_ops_mlp_784_100_10():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    assert metrics.ann_ops(model, (1, 28, 28)) == 158_910


def test_clamp_delay_silences_deeper_layers(digits, digits_cnn):
    net = ss.convert(digits_cnn, digits[0][:200], clamp_delay=5)
    rec = net.run(digits[2][:8], 30)
    for l, train in enumerate(rec.spike_trains):
        assert not train[: 5 * l].any(), f"layer {l} spiked while clamped"
    assert rec.spike_trains[-1][15:].any()


def test_membrane_readout_integrates_without_spikes(digits, digits_cnn):
    _, _, xte, yte = digits
    net = ss.convert(digits_cnn, digits[0][:200], readout="membrane")
    rec = net.run(xte[:100], 100, record=())
    assert rec.output_counts.sum() == 0
    assert rec.accuracy_curve(yte[:100])[-1] >= 0.9


def test_spiking_maxpool_tracks_the_ann():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 4 * 4, 5)).eval()
    x = torch.rand(64, 1, 8, 8)
    net = ss.convert(model, x, percentile=100)
    rec = net.run(x, 300, record=())
    agree = (rec.predictions() == model(x).argmax(1)).float().mean()
    assert agree >= 0.85, f"spiking max-pool agrees with the ANN on {agree:.0%}"
    # the gate passes at most the max spike count of each window: layer-2 input <= ANN max
    target = net.ann_activations(x)[1]
    assert (rec.spike_counts[1].float() / 300 - target).abs().mean() < 0.05


def test_no_output_spike_counts_as_wrong(cnn_net, digits):
    rec = cnn_net.run(torch.zeros(2, 1, 8, 8), 3)
    assert (rec.predictions() == -1).all()
    assert rec.accuracy_curve(torch.tensor([0, 1])).max() == 0


def test_bad_run_inputs(cnn_net):
    with pytest.raises(ValueError, match="expects"):
        cnn_net.run(torch.rand(2, 3, 8, 8), 5)
    with pytest.raises(ValueError, match="NaN"):
        cnn_net.run(torch.full((2, 1, 8, 8), float("nan")), 5)
    with pytest.raises(ValueError, match="timesteps"):
        cnn_net.run(torch.rand(2, 1, 8, 8), 0)
    with pytest.raises(ValueError, match="encoding"):
        cnn_net.run(torch.rand(2, 1, 8, 8), 5, encoding="morse")
    with pytest.raises(ValueError, match="batch size"):
        cnn_net.reset(2)
        cnn_net.step(torch.rand(3, 1, 8, 8))


def test_rates_in_hz_use_dt(digits, digits_mlp):
    net = ss.convert(digits_mlp, digits[0][:100], dt_ms=0.5)
    rec = net.run(digits[2][:2], 40, record=())
    assert torch.allclose(rec.rates_hz(0), rec.spike_counts[0].float() / (40 * 0.5e-3))
