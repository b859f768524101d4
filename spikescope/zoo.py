"""Trained models, no download: one registry (:data:`MODELS`) of the built-in ANNs, the
jet-mlp and the directly trained event SNNs.

The built-in ANNs: digits-mlp, digits-cnn and lenet5 (chains), digits-resnet (a graph:
residual additions, a 1x1 downsample shortcut, global average pooling) and digits-autoencoder
(ConvTranspose2d and nearest upsampling; its output is the reconstructed image, its
``task`` "reconstruction").

Each entry names its kind ("ann": an ANN to convert; "snn": an SNN trained directly), its data
set, its architecture and where its weights are: ``NAME.safetensors`` (tensors) beside
``NAME.json`` (data set, accuracies, training settings), written with
:mod:`spikescope.io.weights`. Built-in ANNs and SNNs live in ``data/models`` (written by
``scripts/train_zoo.py`` and ``scripts/train_events.py``); the jet-mlp lives beside the
user's jet data ($SPIKESCOPE_JETS, ``scripts/train_jets.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from . import metrics
from .data import datasets
from .data.jets import ENV_VAR as JETS_ENV_VAR
from .io.weights import load_meta, load_weights, save_weights
from .jets.model import jet_mlp
from .jets.model import weights_path as jet_mlp_weights
from .registry import Registry
from .sim.network import SpikingNetwork
from .sim.recording import Recording
from .training.loop import train_epoch
from .training.snn import SNN, ssim, to_spiking_network
from .training.snn import load as load_trained_snn

MODEL_DIR = Path(os.environ.get("SPIKESCOPE_MODELS", Path(__file__).resolve().parents[1]
                                / "data" / "models"))


def digits_mlp() -> nn.Sequential:
    """MLP 64-128-64-10 for 8x8 digits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def digits_cnn() -> nn.Sequential:
    """Small CNN for 8x8 digits: conv16-BN-conv32-avgpool-fc64-fc10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 10))


def lenet5() -> nn.Sequential:
    """LeNet-5 (LeCun et al. 1998) for 28x28 inputs, with ReLU and average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN, plus the identity (or a
    1x1 conv + BN downsample when the stride or the width changes), ReLU after the addition."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class DigitsResNet(nn.Module):
    """A small ResNet for 8x8 digits: stem conv16-BN-ReLU, a basic block at 16 channels
    (identity shortcut), one at 32 with stride 2 (1x1 conv downsample shortcut), global
    average pooling, fc10 (about 19k parameters)."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


def digits_resnet() -> DigitsResNet:
    """:class:`DigitsResNet`: residual additions, a 1x1 downsample shortcut, global pooling."""
    return DigitsResNet()


class DigitsAutoencoder(nn.Module):
    """Convolutional autoencoder for 8x8 digits: encoder conv8/2-ReLU-conv16/2-ReLU (a 16x2x2
    code), decoder convT8x2-ReLU-upsample x2 (nearest)-conv1; the output is the
    reconstruction itself (no sigmoid), trained with the pixel MSE."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def digits_autoencoder() -> DigitsAutoencoder:
    """:class:`DigitsAutoencoder`: ConvTranspose2d and nearest upsampling, image output."""
    return DigitsAutoencoder()


# ----------------------------------------------------------------------------- the registry
TASKS = ("classification", "reconstruction")
"""What a model's output is: class scores, or an image of the input's shape."""


@dataclass(frozen=True)
class ZooModel:
    """A registered model: ``kind`` "ann" or "snn"; ``build`` makes the untrained ANN (None
    for an SNN: its architecture is stored in its JSON "config"); ``locate`` gives its weights
    file (None: ``MODEL_DIR/NAME.safetensors``, a built-in model); ``howto`` makes them;
    ``task`` one of :data:`TASKS` (for a trained SNN its JSON "task" says it)."""

    name: str
    kind: str
    dataset: str
    build: Callable[[], nn.Module] | None = None
    locate: Callable[[], Path] | None = None
    howto: str = ""
    task: str = "classification"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task of {self.name!r} must be one of {TASKS}, got {self.task!r}")

    @property
    def builtin(self) -> bool:
        """Whether the weights ship in :data:`MODEL_DIR`."""
        return self.locate is None

    def weights(self) -> Path:
        """The ``.safetensors`` file (the ``.json`` meta is beside it)."""
        return self.locate() if self.locate is not None else MODEL_DIR / f"{self.name}.safetensors"


MODELS: Registry[ZooModel] = Registry("model")
for _m in (
        ZooModel("digits-mlp", "ann", "digits", digits_mlp,
                 howto="python scripts/train_zoo.py digits-mlp"),
        ZooModel("digits-cnn", "ann", "digits", digits_cnn,
                 howto="python scripts/train_zoo.py digits-cnn"),
        ZooModel("lenet5", "ann", "digits28", lenet5, howto="python scripts/train_zoo.py lenet5"),
        ZooModel("digits-resnet", "ann", "digits", digits_resnet,
                 howto="python scripts/train_zoo.py digits-resnet"),
        ZooModel("digits-autoencoder", "ann", "digits", digits_autoencoder,
                 howto="python scripts/train_zoo.py digits-autoencoder",
                 task="reconstruction"),
        ZooModel("jet-mlp", "ann", "jets", jet_mlp, locate=jet_mlp_weights,
                 howto=f"python scripts/train_jets.py ${JETS_ENV_VAR}"),
        # spiking networks trained directly (surrogate gradients)
        ZooModel("events-classifier", "snn", "digits-events",
                 howto="python scripts/train_events.py"),
        ZooModel("events-reconstructor", "snn", "digits-events",
                 howto="python scripts/train_events.py")):
    MODELS.register(_m.name, _m)


class _BuiltinView(Mapping[str, Any]):
    """Read-only, live view of the built-in :data:`MODELS` of one kind (``value`` per entry)."""

    def __init__(self, kind: str, value: Callable[[ZooModel], Any]) -> None:
        self._kind, self._value = kind, value

    def _names(self) -> list[str]:
        return [n for n, m in MODELS.items() if m.kind == self._kind and m.builtin]

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        return self._value(MODELS[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


ARCHITECTURES: Mapping[str, tuple[Callable[[], nn.Module], str]] = _BuiltinView(
    "ann", lambda m: (m.build, m.dataset))
"""Built-in ANNs: name -> (architecture, training data set)."""
SNN_MODELS: Mapping[str, str] = _BuiltinView("snn", lambda m: m.dataset)
"""Built-in trained SNNs: name -> data set."""


def _entry(name: str, kind: str | None = None) -> ZooModel:
    m = MODELS[name]
    if kind is not None and m.kind != kind:
        what = {"ann": "an ANN", "snn": "a trained SNN"}
        raise ValueError(f"{name!r} is {what[m.kind]}, not {what[kind]}")
    return m


def _weights(m: ZooModel) -> Path:
    w = m.weights()
    if not w.exists():
        raise FileNotFoundError(f"no weights for {m.name!r} in {w.parent}; run `{m.howto}`")
    return w


def names() -> list[str]:
    """Names of the built-in ANNs with shipped weights."""
    return [n for n in ARCHITECTURES if MODELS[n].weights().exists()]


def snn_names() -> list[str]:
    """Names of the built-in trained SNNs with shipped weights (not listed by :func:`names`)."""
    return [n for n in SNN_MODELS if MODELS[n].weights().exists()]


def info(name: str) -> dict:
    """Metadata stored beside the weights (data set, test accuracy, training settings)."""
    return load_meta(_weights(_entry(name)))


def architecture(name: str) -> nn.Module:
    """An untrained instance of the named ANN architecture."""
    m = _entry(name, "ann")
    return m.build()


def load(name: str) -> nn.Module:
    """The trained model ``name`` in eval mode (an SNN as by :func:`load_snn`)."""
    m = _entry(name)
    if m.kind == "snn":
        return load_snn(name)
    model = m.build()
    model.load_state_dict(load_weights(_weights(m)))
    return model.eval()


def dataset_of(name: str) -> str:
    """Name of the data set the model was trained on."""
    return _entry(name).dataset


def task_of(name: str) -> str:
    """"classification" or "reconstruction" (the output is an image of the input's shape)."""
    m = _entry(name)
    if m.kind == "snn" and m.weights().exists():
        return load_meta(m.weights()).get("task", m.task)
    return m.task


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples the ANN classifies correctly (the model is left in eval mode)."""
    return metrics.accuracy(model.eval()(x), y)


@torch.no_grad()
def reconstruction_errors(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Mean squared error per pixel and mean SSIM (Wang et al. 2004, window sigma 1.5, data
    range 1) of the model's reconstruction of images ``x`` (B, C, H, W) in [0, 1]; the model
    is left in eval mode."""
    return image_errors(model.eval()(x), x)


def image_errors(recon: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """{"mse", "ssim"} of reconstructions ``recon`` against images ``x`` (B, C, H, W): the
    MSE per pixel over all pixels, the SSIM of each image (``recon`` clipped to [0, 1]) averaged
    over the batch."""
    recon = recon.reshape(x.shape).float()
    return {"mse": float(nn.functional.mse_loss(recon, x)),
            "ssim": float(ssim(recon.clamp(0, 1), x).mean())}


def snn_reconstruction(net: SpikingNetwork, recording: Recording, t: int | None = None
                       ) -> torch.Tensor:
    """The image a converted reconstruction model (e.g. digits-autoencoder) has formed after
    ``t`` steps (None: all), (B, *out_shape), in the ANN's units.

    The output layer's mean input per step times its lambda: with ``readout="membrane"`` the
    non-spiking output layer's potential, x_hat = lambda_L V_t / t (linear: negative values
    kept, exact up to the hidden layers' rate error); with spikes, x_hat = lambda_L theta
    n_t / t from the output spike counts n_t and the output threshold theta (rectified, at
    most lambda_L theta).
    """
    t = recording.timesteps if t is None else int(t)
    if not 1 <= t <= recording.timesteps:
        raise ValueError(f"t must be in [1, {recording.timesteps}], got {t}")
    if recording.readout == "membrane":
        evidence = recording.output_potential[t - 1].float()
    else:
        evidence = recording.output_counts[t - 1].float() * net.layer_params[-1].threshold
    shape = tuple(net.stages[-1].out_shape)
    return (evidence * (net.lambdas[-1] / t)).reshape(len(evidence), *shape)


def train_ann(name: str, *, epochs: int = 60, seed: int = 0, lr: float = 3e-3,
              batch_size: int = 64, out_dir: Path | None = None,
              progress: bool = True) -> dict:
    """Train built-in architecture ``name`` on its data set (seeded) and save weights + meta."""
    m = _entry(name, "ann")
    if not m.builtin:
        raise ValueError(f"{name!r} is not a built-in model; train it with `{m.howto}`")
    torch.manual_seed(seed)
    model = m.build()
    data = m.dataset
    xtr, ytr = datasets.load(data, "train")
    xte, yte = datasets.load(data, "test")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(epochs), desc=f"training {name}", disable=not progress)
    for _ in bar:
        if m.task == "reconstruction":
            loss = train_epoch(model, opt, xtr, xtr, batch_size, gen,
                                   loss_fn=nn.functional.mse_loss)
        else:
            loss = train_epoch(model, opt, xtr, ytr, batch_size, gen)
        sched.step()
        bar.set_postfix(loss=loss)
    if m.task == "reconstruction":
        te, tr = reconstruction_errors(model, xte), reconstruction_errors(model, xtr)
        scores = {"task": m.task, "test_mse": te["mse"], "test_ssim": te["ssim"],
                  "train_mse": tr["mse"],
                  "baseline_mse_mean_image": float(
                      nn.functional.mse_loss(xtr.mean(0, keepdim=True).expand_as(xte), xte)),
                  "output": {"kind": "image", "shape": list(xte.shape[1:]),
                             "intensity": "the last layer's value (no sigmoid), in [0, 1] "
                                          "when reconstructed well"},
                  "loss": "pixel MSE"}
    else:
        scores = {"test_accuracy": accuracy(model, xte, yte),
                  "train_accuracy": accuracy(model, xtr, ytr)}
    meta = {"name": name, "dataset": data, **scores, "epochs": epochs, "seed": seed,
            "lr": lr, "batch_size": batch_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__}
    out = Path(out_dir) if out_dir is not None else MODEL_DIR
    save_weights(out / name, model.state_dict(), meta)
    return meta


# ----------------------------------------------------------------------------- trained SNNs
def snn_info(name: str) -> dict:
    """Metadata of a trained SNN: metrics, input/output description (e.g. output image shape)."""
    return load_meta(_weights(_entry(name, "snn")))


def load_snn(name: str) -> SNN:
    """The trained SNN ``name`` as a trainable :class:`spikescope.train.SNN` (eval mode)."""
    w = _weights(_entry(name, "snn"))
    return load_trained_snn(w.with_suffix(""))


def load_network(name: str) -> SpikingNetwork:
    """The trained SNN ``name`` as a core :class:`~spikescope.SpikingNetwork` (lambdas 1.0):
    run it like a converted network, e.g. ``net.run(x_tbchw, T, encoding="events")``."""
    return to_spiking_network(load_snn(name))
