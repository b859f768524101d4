"""Built-in data sets (no download) and loaders for standard formats users supply.

- "digits": scikit-learn's 8x8 handwritten digits (1797 images, shipped with scikit-learn),
  scaled to [0, 1], shape (N, 1, 8, 8); fixed stratified split, 360 test images.
- "digits28": the same images upscaled to 28x28 (bilinear), the LeNet-5 / MNIST input size.
- "mnist": MNIST from IDX files in a folder the user gives (``root=`` or $SPIKESCOPE_MNIST;
  :mod:`.idx`).
- "cifar10": CIFAR-10 from the *binary* version's batch files in a folder the user gives
  (``root=`` or $SPIKESCOPE_CIFAR10), shape (N, 3, 32, 32); the pickle version is refused
  (:mod:`.cifar`).
- "jets": hls4ml LHC jets (OpenML 42468) from the user's file (``path=`` or $SPIKESCOPE_JETS):
  16 standardized features, labels g/q/w/z/t (:mod:`.jets`, which also has a "val" split).
- "digits-events", "mnist1d": see their loaders below.
Further data sets register in :data:`LOADERS` (a :class:`~spikescope.registry.Registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import Registry
from . import cifar, jets
from .idx import load_mnist, read_idx, write_idx

__all__ = ["DIGITS_EVENTS_DIR", "LOADERS", "SPLITS", "SPLIT_SEED", "TEST_SIZE", "load",
           "load_mnist", "names", "read_idx", "register", "write_idx"]

Loader = Callable[..., tuple[torch.Tensor, torch.Tensor]]
SPLITS = ("train", "test")
TEST_SIZE = 360
SPLIT_SEED = 0
LOADERS: Registry[Loader] = Registry("data set")


def register(name: str) -> Callable[[Loader], Loader]:
    """Register ``loader(split, **kw) -> (x, y)`` under ``name`` (a decorator)."""
    return LOADERS.register(name)


def names() -> list[str]:
    """Names of the available data sets."""
    return sorted(LOADERS)


def load(name: str, split: str = "test", **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Load data set ``name`` split ``split`` as (x float32 in [0, 1], y int64) tensors."""
    loader = LOADERS[name]  # RegistryError (a ValueError) naming the available data sets
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    x, y = loader(split, **kwargs)
    return x.clone(), y.clone()


@cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return tuple(train_test_split(x, d.target.astype(np.int64), test_size=TEST_SIZE,
                                  random_state=SPLIT_SEED, stratify=d.target))


@register("digits")
def _digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    xtr, xte, ytr, yte = _digits_arrays()
    x, y = (xtr, ytr) if split == "train" else (xte, yte)
    return torch.from_numpy(x), torch.from_numpy(y)


@register("digits28")
def _digits28(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _digits(split)
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    return x, y


LOADERS.register("mnist", load_mnist)
LOADERS.register("jets", jets.load)  # hls4ml LHC jets, user's file (path= or $SPIKESCOPE_JETS)


@register("cifar10")
def _cifar10(split: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 binary batches from ``root`` or $SPIKESCOPE_CIFAR10 (:func:`.cifar.load_cifar10`):
    x (N, 3, 32, 32) float32 in [0, 1], channels R, G, B; y (N,) int64."""
    return cifar.load_cifar10(split, root)


# ----------------------------------------------------------------------------- digits-events
DIGITS_EVENTS_DIR = Path(__file__).resolve().parents[2] / "data" / "digits-events"


@cache
def _digits_events_array(key: str) -> np.ndarray:
    path = DIGITS_EVENTS_DIR / "digits-events.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `python scripts/make_digits_events.py`")
    with np.load(path) as z:
        return z[key]


@register("digits-events")
def _digits_events(split: str, target: str = "label") -> tuple[torch.Tensor, torch.Tensor]:
    """Emulated N-MNIST-like recordings of the "digits" images (scripts/make_digits_events.py).

    x: (N, T, 2, 34, 34) float32 event counts per bin (T = 20 bins of 15 ms; channel 0 = OFF,
    1 = ON), sample-major: use ``x.transpose(0, 1)`` (or :func:`spikescope.dvs.to_time_major`)
    for ``SpikingNetwork.run(x, T, encoding="events")``. y: labels (N,) int64, or with
    ``target="image"`` the still images (N, 1, 34, 34) float32 in [0, 1].
    """
    if target not in ("label", "image"):
        raise ValueError(f"target must be 'label' or 'image', got {target!r}")
    a = _digits_events_array
    x = torch.from_numpy(a(f"{split}_frames").astype(np.float32))
    if target == "image":
        return x, torch.from_numpy(a(f"{split}_images").astype(np.float32) / 255.0)[:, None]
    return x, torch.from_numpy(a(f"{split}_labels"))


# ----------------------------------------------------------------------------- mnist1d
@register("mnist1d")
def _mnist1d(split: str, seed: int = 42) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-1D (Greydanus 2020), generated procedurally by the ``mnist1d`` package (no
    download): 4000 train / 1000 test sequences of length 40, x (N, 40) float32, y (N,)."""
    d = _mnist1d_arrays(seed)
    x, y = (d["x"], d["y"]) if split == "train" else (d["x_test"], d["y_test"])
    return torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))


@cache
def _mnist1d_arrays(seed: int) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    return make_dataset(args)
