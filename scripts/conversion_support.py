"""Which of the graph-conversion test models (tests/graph_models.py) each converter takes:
spikescope.convert, SpikingJelly's ann2snn (RateCodingRecipe) and sinabs.from_model.

    python scripts/conversion_support.py      # prints a Markdown table (README.md has it)

The peers install with `pip install --no-deps -r tests/requirements-interop.txt`. A peer
"converts" a model when it returns a network without an error; the table also counts the
spiking layers it made (sinabs replaces ReLU *modules* only: a functional F.relu stays an
analog ReLU in its "spiking" network).
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spikescope as ss  # noqa: E402
from tests import graph_models as G  # noqa: E402


class ResNetModuleReLU(G.ResNet):
    """The ResNet with every ReLU an nn.ReLU module (as torchvision writes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


ROWS = [
    ("ResNet: `out += identity`, 1x1 downsample, AdaptiveAvgPool2d, view(x.size(0), -1)",
     G.ResNet, (3, 16, 16)),
    ("the same ResNet with nn.ReLU modules only (torchvision style)", ResNetModuleReLU,
     (3, 16, 16)),
    ("Inception: torch.cat, F.max_pool2d, F.dropout, reshape(x.shape[0], -1)", G.Inception,
     (3, 16, 16)),
    ("DenseNet-style torch.cat", G.DenseBlock, (1, 8, 8)),
    ("U-Net: Upsample(nearest), cat with a skip", G.UNet, (1, 8, 8)),
    ("ConvTranspose2d autoencoder", G.ConvAutoencoder, (1, 8, 8)),
    ("Conv1d, BatchNorm1d, F.max_pool1d / F.avg_pool1d", G.Signal1d, (1, 30)),
    ("MaxPool2d(ceil_mode), F.interpolate, AdaptiveAvgPool2d(2), x.mean((2, 3)), Dropout2d",
     G.Pools, (1, 8, 8)),
    ("nn.Sequential of custom ConvBNReLU blocks", G.CustomBlocks, (1, 8, 8)),
    ("hidden Linear with no ReLU: Sequential(Linear, Linear)",
     lambda: nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), (4,)),
    ("GELU", lambda: nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2)), (4,)),
]


def _try(fn, *args) -> str:
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the table reports every failure
        msg = re.sub(r" at 0x[0-9a-f]+", "", str(e).splitlines()[0])
        return f"no: {type(e).__name__}: {msg[:90]}"


def main() -> None:
    warnings.filterwarnings("ignore")
    print("| model | spikescope | SpikingJelly 2.0 ann2snn | sinabs 3.1 from_model |")
    print("|---|---|---|---|")
    for name, make, shape in ROWS:
        torch.manual_seed(0)
        model = G.randomize_bn(make())
        x = torch.rand(16, *shape)
        with torch.no_grad():
            want = model(x)

        print(f"| {name} | {_try(_ours, model, x, want)} | {_try(_sj, model, x)} | "
              f"{_try(_sinabs, model, shape)} |")


def _ours(model, x, want) -> str:
    net = ss.convert(model, x)
    same = torch.allclose(net.ann_forward(x).reshape(want.shape) * net.lambdas[-1], want,
                          atol=1e-4)
    return f"yes: {len(net.stages)} nodes" + ("" if same else " (differs!)")


def _sj(model, x) -> str:
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based.ann2snn import Converter
    from spikingjelly.activation_based.ann2snn.recipes.rate_coding import RateCodingRecipe

    snn = Converter(RateCodingRecipe([(x, torch.zeros(len(x)))], mode="Max")).convert(model)
    return f"yes: {sum(isinstance(m, neuron.IFNode) for m in snn.modules())} IF layers"


def _sinabs(model, shape) -> str:
    import sinabs

    snn = sinabs.from_model(model, input_shape=shape, batch_size=16)
    n = sum(isinstance(m, sinabs.layers.IAFSqueeze) for m in snn.spiking_model.modules())
    return f"returns a network with {n} spiking layers"


if __name__ == "__main__":
    main()
