import numpy as np
import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope.convert import compute_lambdas
from spikescope.convert.parse import parse
from spikescope.sim.graph import stage_activations


def test_bn_folding_preserves_the_ann(digits, digits_cnn):
    _, _, xte, _ = digits
    stages = parse(digits_cnn, (1, 8, 8))
    h = xte
    for s in stages:
        h = s.ann_forward(h)
    with torch.no_grad():
        ref = digits_cnn(xte)
    assert torch.allclose(h, ref, atol=1e-4), "folded BatchNorm changes the ANN output"


@pytest.mark.parametrize("p", [99.0, 99.9, 100.0])
def test_lambdas_are_numpy_percentiles_of_nonzero_activations(digits, digits_cnn, p):
    xtr = digits[0][:300]
    net = ss.convert(digits_cnn, xtr, percentile=p)
    acts = stage_activations(parse(digits_cnn, (1, 8, 8)), xtr)
    for lam, a in zip(net.lambdas, acts):
        nz = a.numpy()[a.numpy() > 0]
        assert lam == pytest.approx(float(np.percentile(nz, p)), rel=1e-6)
    assert len(net.lambdas) == 4


def test_no_normalization_and_all_zero_layer_give_lambda_one():
    assert compute_lambdas([torch.rand(10, 5) + 1], None) == [1.0]
    assert compute_lambdas([torch.zeros(10, 5)], 99.9) == [1.0]


def test_normalized_ann_keeps_predictions(digits, digits_cnn, digits_mlp):
    xtr, _, xte, _ = digits
    for model in (digits_cnn, digits_mlp):
        net = ss.convert(model, xtr[:200], percentile=99.0)
        with torch.no_grad():
            orig = model(xte)
        norm = net.ann_forward(xte)
        assert torch.equal(norm.argmax(1), orig.argmax(1))
        assert torch.allclose(norm * net.lambdas[-1], orig, atol=1e-3, rtol=1e-4)


def test_unsupported_layer_is_named():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Sigmoid(), nn.Linear(10, 3))
    with pytest.raises(ss.ConversionError, match="Sigmoid") as e:
        ss.convert(model, torch.rand(4, 1, 8, 8))
    assert "Linear" in str(e.value) and "Conv2d" in str(e.value)


def test_traced_module_with_functional_calls():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 4, 3)
            self.f = nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            return self.f(torch.flatten(torch.relu(self.c(x)), 1))

    torch.manual_seed(0)
    model = Net().eval()
    x = torch.rand(8, 1, 8, 8)
    net = ss.convert(model, x)
    assert net.layer_names == ["conv1", "fc1"]
    assert torch.allclose(net.ann_forward(x) * net.lambdas[-1], model(x).detach(), atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(percentile=0), "percentile"), (dict(percentile=100.5), "percentile"),
    (dict(percentile=float("nan")), "percentile"), (dict(code="morse"), "code"),
    (dict(reset="soft"), "reset"), (dict(threshold=-1), "threshold"), (dict(leak=2), "leak"),
    (dict(clamp_delay=-2), "clamp_delay"), (dict(readout="vote"), "readout"),
])
def test_out_of_range_parameters(digits_mlp, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ss.convert(digits_mlp, torch.rand(4, 1, 8, 8), **kwargs)


def test_empty_calibration_and_bad_shapes(digits_mlp, digits_cnn):
    with pytest.raises(ValueError, match="empty"):
        ss.convert(digits_mlp, torch.zeros(0, 1, 8, 8))
    with pytest.raises(ss.ConversionError, match="shape"):
        ss.convert(digits_cnn, torch.rand(4, 3, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        ss.convert(digits_mlp, torch.full((4, 1, 8, 8), float("nan")))


def test_nan_weights_are_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight[0, 0] = float("inf")
    with pytest.raises(ss.ConversionError, match="NaN or infinite"):
        ss.convert(model, torch.rand(3, 4))
