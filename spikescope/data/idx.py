"""IDX files (MNIST's format, optionally gzipped): reader, writer and the MNIST loader."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _open(path: Path) -> BinaryIO:
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


def load_mnist(split: str, root: str | os.PathLike | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``split`` from the four IDX files (or .gz) in ``root`` or $SPIKESCOPE_MNIST:
    x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64."""
    root = root or os.environ.get("SPIKESCOPE_MNIST")
    if root is None:
        raise FileNotFoundError("MNIST is not shipped: download the four IDX files (see "
                                "data/README.md) and pass root=DIR or set SPIKESCOPE_MNIST")
    found = []
    for stem in MNIST_FILES[split]:
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
