"""Built-in data sets (no download) and loaders for standard formats users supply.

- "digits": scikit-learn's 8x8 handwritten digits (1797 images, shipped with scikit-learn),
  scaled to [0, 1], shape (N, 1, 8, 8); fixed stratified split, 360 test images.
- "digits28": the same images upscaled to 28x28 (bilinear), the LeNet-5 / MNIST input size.
- "mnist": MNIST from IDX files in a folder the user gives (``root=`` or $SPIKESCOPE_MNIST).
Further data sets register in :data:`LOADERS`.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train", "test")
TEST_SIZE = 360
SPLIT_SEED = 0
LOADERS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {}


def register(name: str):
    """Register ``loader(split, **kw) -> (x, y)`` under ``name``."""

    def deco(f):
        LOADERS[name] = f
        return f

    return deco


def names() -> list[str]:
    """Names of the available data sets."""
    return sorted(LOADERS)


def load(name: str, split: str = "test", **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Load data set ``name`` split ``split`` as (x float32 in [0, 1], y int64) tensors."""
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; available: {names()}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    x, y = LOADERS[name](split, **kwargs)
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


# ----------------------------------------------------------------------------- IDX (MNIST)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST's format, optionally .gz) into a numpy array."""
    with _open(Path(path)) as f:
        header = f.read(4)
        if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] not in _IDX_TYPES:
            raise ValueError(f"{path}: not an IDX file (bad magic number {header!r})")
        ndim = header[3]
        dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        dtype = np.dtype(_IDX_TYPES[header[2]])
        n = int(np.prod(dims)) if dims else 0
        data = f.read(n * dtype.itemsize)
        if len(data) != n * dtype.itemsize:
            raise ValueError(f"{path}: truncated IDX file ({len(data)} of "
                             f"{n * dtype.itemsize} data bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (uint8 for images/labels, as MNIST)."""
    array = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    dt = array.dtype if array.dtype.itemsize == 1 else array.dtype.newbyteorder(">")
    if dt not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    with open(path, "wb") as f:
        f.write(bytes([0, 0, codes[dt], array.ndim]))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(dt).tobytes())


_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@register("mnist")
def _mnist(split: str, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    root = root or os.environ.get("SPIKESCOPE_MNIST")
    if root is None:
        raise FileNotFoundError("MNIST is not shipped: download the four IDX files (see "
                                "data/README.md) and pass root=DIR or set SPIKESCOPE_MNIST")
    found = []
    for stem in _MNIST_FILES[split]:
        cands = [Path(root) / stem, Path(root) / (stem + ".gz")]
        path = next((p for p in cands if p.exists()), None)
        if path is None:
            raise FileNotFoundError(f"{cands[0]} (or .gz) not found")
        found.append(read_idx(path))
    images, labels = found
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"MNIST images {images.shape} and labels {labels.shape} do not match")
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    return x, torch.from_numpy(labels.astype(np.int64))


# ----------------------------------------------------------------------------- hls4ml LHC jets
@register("jets")
def _jets(split: str, path: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """hls4ml LHC jets (OpenML 42468) from the user's file (``path=`` or $SPIKESCOPE_JETS):
    16 standardized features, labels g/q/w/z/t; see :mod:`spikescope.jets` (also has "val")."""
    from .. import jets

    return jets.load(split, path)


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
