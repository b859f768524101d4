"""Direct SNN training: surrogate gradients, BPTT, conversion to the core, shipped models."""

import math

import pytest
import torch
from torch import nn

from spikescope import SpikingNetwork, datasets, dvs, train, zoo

# closed forms of the pseudo-derivatives dS/dx, written out independently of spikescope.training
ANALYTIC = {
    "fast_sigmoid": lambda x, w: 1 / (2 * w * (1 + x.abs() / w) ** 2),
    "arctan": lambda x, w: 1 / (math.pi * w * (1 + (x / w) ** 2)),
    "erf": lambda x, w: torch.exp(-x ** 2 / (2 * w ** 2)) / (math.sqrt(2 * math.pi) * w),
    "triangle": lambda x, w: torch.clamp(1 - x.abs() / w, min=0) / w,
}


@pytest.mark.parametrize("kind", train.SURROGATES)
@pytest.mark.parametrize("width", [0.25, 1.0])
def test_surrogate_gradient_matches_analytic_form(kind, width):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    s = train.spike(x, kind, width)
    torch.testing.assert_close(s.detach(), (x >= 0).double())  # forward: a spike
    (g,) = torch.autograd.grad(s.sum(), x)
    torch.testing.assert_close(g, ANALYTIC[kind](x.detach(), width))
    # ... which is the derivative of the smooth step S(x)
    (g_smooth,) = torch.autograd.grad(train.surrogate_step(x, kind, width).sum(), x)
    torch.testing.assert_close(g, g_smooth)


@pytest.mark.parametrize("kind", train.SURROGATES)
def test_pseudo_derivatives_integrate_to_one(kind):
    x = torch.linspace(-2000, 2000, 2_000_001, dtype=torch.float64)
    area = torch.trapezoid(train.pseudo_derivative(x, kind, 0.5), x)
    assert abs(float(area) - 1) < 1e-3


def test_surrogate_bad_arguments():
    with pytest.raises(ValueError, match="surrogate"):
        train.spike(torch.zeros(2), "relu")
    with pytest.raises(ValueError, match="width"):
        train.spike(torch.zeros(2), "erf", 0.0)


def _small_conv(**kw):
    return train.SNN([nn.AvgPool2d(2), nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Flatten(),
                      nn.Linear(4 * 9 * 9, 10)], (2, 34, 34), **kw)


def test_snn_rejects_bad_layers_and_input():
    with pytest.raises(ValueError, match="unsupported layer ReLU"):
        train.SNN([nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)], (4,))
    with pytest.raises(ValueError, match="end with"):
        train.SNN([nn.Linear(4, 4), nn.Flatten()], (4,))
    with pytest.raises(ValueError, match="time-major"):
        _small_conv()(torch.zeros(3, 2, 34, 34))


@pytest.mark.parametrize("learn_leak", [False, True])
def test_to_spiking_network_reproduces_the_trained_model(learn_leak):
    torch.manual_seed(0)
    model = _small_conv(leak=0.8, learn_leak=learn_leak, threshold=0.5)
    with torch.no_grad():
        for m in model.layers:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(4)
        if learn_leak:
            model.leak_logit.copy_(torch.tensor([0.5, 2.0]))  # two different leaks
    x = (torch.rand(12, 5, 2, 34, 34) < 0.1).float()
    spikes = model.eval()(x, return_all=True)
    net = train.to_spiking_network(model)
    assert isinstance(net, SpikingNetwork) and net.lambdas == [1.0, 1.0]
    assert net.params.threshold == 0.5
    if learn_leak:
        assert [p.leak for p in net.layer_params] == pytest.approx(
            torch.sigmoid(torch.tensor([0.5, 2.0])).tolist())
    else:
        assert net.params.leak == 0.8
    rec = net.run(x, 12, encoding="events")
    assert sum(int(s.sum()) for s in spikes) > 50, "test network should be active"
    for l, s in enumerate(spikes):
        torch.testing.assert_close(rec.spike_counts[l].float(), s.sum(0).reshape(5, -1))
    net.reset(5)
    for t in range(12):
        out = net.step(x[t])
    torch.testing.assert_close(net.recording.output_counts[-1], rec.output_counts[-1])
    torch.testing.assert_close(out, spikes[-1][-1])


def test_short_training_reduces_loss_and_checkpoints(tmp_path):
    torch.manual_seed(0)
    x, y = datasets.load("digits-events", "test")
    x, y = x[:96, ::2], y[:96]  # 96 samples, every other time bin
    model = train.SNN([nn.Flatten(), nn.Linear(2 * 34 * 34, 10)], (2, 34, 34), leak=0.9,
                      surrogate="arctan")

    def loss_now():
        with torch.no_grad():
            return float(train.spike_count_cross_entropy(model.eval()(x.transpose(0, 1)), y))

    before = loss_now()
    hist = train.fit(model, x, y, epochs=3, batch_size=16, lr=5e-3, seed=1, progress=False,
                     checkpoint=tmp_path / "ckpt")
    after = loss_now()
    assert after < 0.8 * before, f"training did not reduce the loss: {before:.3f} -> {after:.3f}"
    assert len(hist["loss"]) == 3 and not hist["interrupted"]
    back = train.load(tmp_path / "ckpt")  # safetensors + json config
    torch.testing.assert_close(back(x[:4].transpose(0, 1)), model(x[:4].transpose(0, 1)))


def test_training_is_seeded_and_interruptible():
    x = (torch.rand(40, 4, 1, 6, 6) < 0.3).float()
    y = torch.randint(0, 3, (40,))

    def run(stop_at=None):
        torch.manual_seed(123)
        model = train.SNN([nn.Flatten(), nn.Linear(36, 3)], (1, 6, 6), learn_leak=True)
        calls = []

        def loss_fn(out, target):
            calls.append(1)
            if stop_at is not None and len(calls) == stop_at:
                raise KeyboardInterrupt
            return train.spike_count_cross_entropy(out, target)

        hist = train.fit(model, x, y, loss_fn=loss_fn, epochs=2, batch_size=8, seed=5,
                         progress=False)
        return model, hist

    a, _ = run()
    b, _ = run()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    c, hist = run(stop_at=4)
    assert hist["interrupted"] and len(hist["batch_loss"]) == 3
    assert all(torch.isfinite(p).all() for p in c.parameters())


def test_ssim():
    a = torch.rand(3, 1, 20, 20)
    torch.testing.assert_close(train.ssim(a, a), torch.ones(3))
    assert float(train.ssim(a, 1 - a).mean()) < 0
    assert float(train.ssim(a, (a + 0.2 * torch.rand_like(a)).clamp(0, 1)).mean()) < 1


def test_shipped_classifier_accuracy():
    assert "events-classifier" in zoo.snn_names()
    assert "events-classifier" not in zoo.names()
    info = zoo.snn_info("events-classifier")
    net = zoo.load_network("events-classifier")
    x, y = datasets.load("digits-events", "test")
    rec = net.run(dvs.to_time_major(x), info["timesteps"], encoding="events", record=())
    acc = float((rec.predictions() == y).float().mean())
    assert acc >= info["test_accuracy"] - 0.01, (acc, info["test_accuracy"])
    assert info["test_accuracy"] >= 0.9


def test_shipped_reconstructor():
    info = zoo.snn_info("events-reconstructor")
    assert info["output"]["kind"] == "image" and info["output"]["shape"] == [1, 34, 34]
    net = zoo.load_network("events-reconstructor")
    x, img = datasets.load("digits-events", "test", target="image")
    x, img = x[:60], img[:60]
    rec = net.run(dvs.to_time_major(x), info["timesteps"], encoding="events", record=())
    recon = (rec.output_counts[-1].float() / info["output"]["counts_per_unit"]).clamp(0, 1)
    recon = recon.reshape(img.shape)
    mse = float(((recon - img) ** 2).mean())
    assert mse < info["baseline_mse_black_image"], "reconstruction no better than a black image"
    assert mse == pytest.approx(info["test_mse"], abs=0.01)
