"""Trained models, no download: one registry (:data:`MODELS`) of the built-in ANNs, the
jet-mlp and the directly trained event SNNs.

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
from .training.loop import train_epoch
from .training.snn import SNN, to_spiking_network
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


# ----------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class ZooModel:
    """A registered model: ``kind`` "ann" or "snn"; ``build`` makes the untrained ANN (None
    for an SNN: its architecture is stored in its JSON "config"); ``locate`` gives its weights
    file (None: ``MODEL_DIR/NAME.safetensors``, a built-in model); ``howto`` makes them."""

    name: str
    kind: str
    dataset: str
    build: Callable[[], nn.Module] | None = None
    locate: Callable[[], Path] | None = None
    howto: str = ""

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


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples the ANN classifies correctly (the model is left in eval mode)."""
    return metrics.accuracy(model.eval()(x), y)


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
        loss = train_epoch(model, opt, xtr, ytr, batch_size, gen)
        sched.step()
        bar.set_postfix(loss=loss)
    meta = {"name": name, "dataset": data, "test_accuracy": accuracy(model, xte, yte),
            "train_accuracy": accuracy(model, xtr, ytr), "epochs": epochs, "seed": seed,
            "lr": lr, "batch_size": batch_size, "torch": torch.__version__}
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
