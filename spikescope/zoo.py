"""Built-in trained ANNs (no download): architectures in code, weights in data/models.

Each model ``NAME`` has ``data/models/NAME.safetensors`` (the state dict) and ``NAME.json``
(data set, test accuracy, training settings), both written by ``scripts/train_zoo.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .data import datasets

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


# name -> (architecture, training data set)
ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "digits-mlp": (digits_mlp, "digits"),
    "digits-cnn": (digits_cnn, "digits"),
    "lenet5": (lenet5, "digits28"),
}


def names() -> list[str]:
    """Names of the models with shipped weights."""
    return [n for n in ARCHITECTURES if (MODEL_DIR / f"{n}.safetensors").exists()]


def info(name: str) -> dict:
    """Metadata stored beside the weights (data set, test accuracy, training settings)."""
    _check(name)
    return json.loads((MODEL_DIR / f"{name}.json").read_text())


def _check(name: str) -> None:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; available: {sorted(ARCHITECTURES)}")
    if not (MODEL_DIR / f"{name}.safetensors").exists():
        raise FileNotFoundError(f"no weights for {name!r} in {MODEL_DIR}; "
                                f"run `python scripts/train_zoo.py {name}`")


def architecture(name: str) -> nn.Module:
    """An untrained instance of the named architecture."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; available: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name][0]()


def load(name: str) -> nn.Module:
    """The trained ANN ``name`` in eval mode."""
    _check(name)
    model = architecture(name)
    model.load_state_dict(load_file(MODEL_DIR / f"{name}.safetensors"))
    return model.eval()


def dataset_of(name: str) -> str:
    """Name of the data set the model was trained on."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; available: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name][1]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples the ANN classifies correctly."""
    return float((model.eval()(x).argmax(1) == y).float().mean())


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                target: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    """One epoch of shuffled minibatch cross-entropy training (``target``: class indices or
    class probabilities); returns the last batch's loss."""
    model.train()
    for idx in torch.randperm(len(x), generator=gen).split(batch_size):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), target[idx])
        loss.backward()
        opt.step()
    return loss.item()


def train_ann(name: str, *, epochs: int = 60, seed: int = 0, lr: float = 3e-3,
              batch_size: int = 64, out_dir: Path | None = None,
              progress: bool = True) -> dict:
    """Train architecture ``name`` on its data set (seeded) and save weights + metadata."""
    torch.manual_seed(seed)
    model = architecture(name)
    data = dataset_of(name)
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
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              out / f"{name}.safetensors")
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ----------------------------------------------------------------------------- trained SNNs
# Spiking networks trained directly (surrogate gradients, scripts/train_events.py); their
# architecture is stored in NAME.json ("config"), weights in NAME.safetensors.
SNN_MODELS: dict[str, str] = {
    "events-classifier": "digits-events",
    "events-reconstructor": "digits-events",
}


def snn_names() -> list[str]:
    """Names of the directly trained SNNs with shipped weights (not listed by :func:`names`)."""
    return [n for n in SNN_MODELS if (MODEL_DIR / f"{n}.safetensors").exists()]


def _check_snn(name: str) -> None:
    if name not in SNN_MODELS:
        raise ValueError(f"unknown trained SNN {name!r}; available: {sorted(SNN_MODELS)}")
    if not (MODEL_DIR / f"{name}.safetensors").exists():
        raise FileNotFoundError(f"no weights for {name!r} in {MODEL_DIR}; "
                                f"run `python scripts/train_events.py`")


def snn_info(name: str) -> dict:
    """Metadata of a trained SNN: metrics, input/output description (e.g. output image shape)."""
    _check_snn(name)
    return json.loads((MODEL_DIR / f"{name}.json").read_text())


def load_snn(name: str):
    """The trained SNN ``name`` as a trainable :class:`spikescope.train.SNN` (eval mode)."""
    from . import training as train

    _check_snn(name)
    return train.load(MODEL_DIR / name)


def load_network(name: str):
    """The trained SNN ``name`` as a core :class:`~spikescope.SpikingNetwork` (lambdas 1.0):
    run it like a converted network, e.g. ``net.run(x_tbchw, T, encoding="events")``."""
    from . import training as train

    return train.to_spiking_network(load_snn(name))
