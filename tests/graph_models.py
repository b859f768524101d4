"""Models written the way researchers write them (issue 17's table), for the graph tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikescope.zoo import BasicBlock  # torchvision's BasicBlock, as researchers write it


class ResNet(nn.Module):
    """Stem, a block with an identity shortcut, a stride-2 block with a 1x1 downsample,
    global average pooling, the usual flatten, a classifier."""

    def __init__(self, cin: int = 3, width: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(BasicBlock(width, width))
        self.layer2 = nn.Sequential(BasicBlock(width, 2 * width, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, **kw) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, w: int) -> None:
        super().__init__()
        self.b1 = ConvBNReLU(cin, w, 1)
        self.b2 = nn.Sequential(ConvBNReLU(cin, w, 1), ConvBNReLU(w, w, 3, padding=1))
        self.b3 = ConvBNReLU(cin, w, 5, padding=2)
        self.b4 = ConvBNReLU(cin, w, 1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x),
                          self.b4(F.max_pool2d(x, 3, 1, 1))], 1)


class Inception(nn.Module):
    """An Inception-style network: torch.cat of four branches, functional pools, dropout."""

    def __init__(self, cin: int = 3, w: int = 6, n_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(cin, 8, 3, stride=2, padding=1))
        self.inc = InceptionBlock(8, w)
        self.drop = nn.Dropout2d(0.1)
        self.fc = nn.Linear(4 * w, n_classes)

    def forward(self, x):
        x = F.avg_pool2d(self.stem(x), 2)
        x = self.drop(self.inc(x))
        x = F.adaptive_avg_pool2d(x, 1)
        x = x.reshape(x.shape[0], -1)
        return self.fc(F.dropout(x, 0.2, self.training))


class DenseBlock(nn.Module):
    """DenseNet-style growth: the input (already rectified) concatenated with new features."""

    def __init__(self, cin: int = 1, growth: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(cin, 4, 3, padding=1)
        self.grow = nn.Conv2d(4, growth, 3, padding=1)
        self.fc = nn.Linear((4 + growth) * 16, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.cat([x, torch.relu(self.grow(x))], dim=1)
        x = F.avg_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


class UNet(nn.Module):
    """U-Net-style: encode, upsample (nearest), concatenate with the skip, decode."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(1, 4, 3, padding=1)
        self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec = nn.Conv2d(12, 4, 3, padding=1)
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        skip = F.relu(self.enc(x))
        h = F.relu(self.down(skip))
        h = torch.cat([self.up(h), skip], 1)
        return self.out(F.relu(self.dec(h)))


class ConvAutoencoder(nn.Module):
    """Conv encoder, ConvTranspose2d decoder (a reconstruction model)."""

    def __init__(self) -> None:
        super().__init__()
        self.e1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.e2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.d1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.bn = nn.BatchNorm2d(4)
        self.d2 = nn.ConvTranspose2d(4, 1, 2, stride=2)

    def forward(self, x):
        h = F.relu(self.e2(F.relu(self.e1(x))))
        return self.d2(F.relu(self.bn(self.d1(h))))


class Signal1d(nn.Module):
    """A 1-D signal classifier: Conv1d, pools, the flatten idiom."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 4, 5, padding=2)
        self.bn = nn.BatchNorm1d(4)
        self.c2 = nn.Conv1d(4, 8, 3)
        self.fc = nn.Linear(8 * 6, 3)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.bn(self.c1(x))), 2)
        x = F.avg_pool1d(F.relu(self.c2(x)), 2)
        return self.fc(x.view(x.size(0), -1))


class Pools(nn.Module):
    """MaxPool2d(ceil_mode=True), F.interpolate (nearest), AdaptiveAvgPool2d(k > 1),
    x.mean((2, 3)) and Dropout2d."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.drop = nn.Dropout2d(0.2)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1)
        self.adapt = nn.AdaptiveAvgPool2d(2)
        self.c3 = nn.Conv2d(6, 6, 1)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = self.drop(self.pool(F.relu(self.c1(x))))                            # 6x6 -> 3x3
        x = F.relu(self.c2(F.interpolate(x, scale_factor=2, mode="nearest")))  # 6x6
        x = torch.relu(self.c3(self.adapt(x)))                                 # 2x2
        return self.fc(x.mean((2, 3)))


class CustomBlocks(nn.Module):
    """nn.Sequential of custom ConvBNReLU blocks, then the x.view(x.shape[0], -1) idiom."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(ConvBNReLU(1, 4, 3, padding=1), nn.AvgPool2d(2),
                                      ConvBNReLU(4, 8, 3, padding=1))
        self.fc = nn.Linear(8 * 16, 10)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.shape[0], -1))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics (as after training); eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
    return model.eval()
