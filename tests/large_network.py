"""The research-scale network of issue 24, built by the tests: a VGG-style CNN for 1x28x28
(conv 64 - pool - conv 128 - pool - conv 256 - conv 256 - pool, fc 2304-256-10, ReLU),
100,618 spiking neurons after conversion, trained briefly on digits28 so that it answers and
its layers spike as a trained network's do, and exported with ``torch.onnx.export`` as a user
would upload it."""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from spikescope import datasets

#: Spiking neurons of the converted network (conv maps + hidden fc + output).
NEURONS = 64 * 28 * 28 + 128 * 14 * 14 + 2 * 256 * 7 * 7 + 256 + 10


def vgg28() -> nn.Sequential:
    """The untrained network (seeded)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=False),
        nn.Flatten(), nn.Linear(256 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, 10),
    )


def train_digits28(model: nn.Module, steps: int = 60, batch: int = 32) -> nn.Module:
    """``model`` after ``steps`` Adam steps on digits28's training split (seconds), in eval
    mode."""
    x, y = datasets.load("digits28", "train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        i = torch.randint(len(y), (batch,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()
    return model.eval()


def trained_vgg28(steps: int = 60, batch: int = 32) -> nn.Module:
    """:func:`vgg28` trained by :func:`train_digits28`."""
    return train_digits28(vgg28(), steps, batch)


def onnx_bytes(model: nn.Module) -> bytes:
    """``model`` exported with ``torch.onnx.export`` (the TorchScript-based exporter)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), buf, input_names=["x"],
                          dynamo=False)
    return buf.getvalue()
