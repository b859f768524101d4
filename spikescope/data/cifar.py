"""CIFAR-10, binary version only (cifar-10-batches-bin): reader, writer and the loader.

A batch file is N records of 3073 bytes: 1 label byte (0..9), then 1024 red, 1024 green and
1024 blue bytes, each plane a row-major 32x32 image (Krizhevsky 2009; 10000 records per
official file). The python version of CIFAR-10 is pickle, which can run code when read: it is
refused, never unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import ParameterError, SpikescopeError, check_choice

ENV_VAR = "SPIKESCOPE_CIFAR10"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
RECORD_BYTES = 1 + IMAGE_BYTES
N_CLASSES = 10
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                 "test": ("test_batch.bin",)}
_PICKLE_NAMES = {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch", "batches.meta"}
HOWTO = (f"download the CIFAR-10 binary version ({URL}), unpack it and pass root=DIR (the "
         f"folder holding data_batch_1.bin .. data_batch_5.bin and test_batch.bin, or the one "
         f"holding {FOLDER}/) or set ${ENV_VAR}=DIR; see data/README.md")
_PICKLE_MSG = ("looks like the CIFAR-10 *python* version (pickle), which spikescope refuses "
               "to load because unpickling can run arbitrary code; nothing was executed. "
               f"Use the binary version instead: {HOWTO}")


class CifarFileError(SpikescopeError):
    """A CIFAR-10 batch file is not in the binary format (size, labels, or a pickle)."""


def _refuse_pickle(path: Path) -> None:
    """Raise :class:`CifarFileError` if ``path`` is (or sits in) the pickle version."""
    if path.name in _PICKLE_NAMES or path.parent.name == "cifar-10-batches-py":
        raise CifarFileError(f"{path}: {_PICKLE_MSG}")
    with open(path, "rb") as f:
        first = f.read(1)
    if first == b"\x80":  # pickle protocol >= 2 opcode; a CIFAR label byte is 0..9
        raise CifarFileError(f"{path}: {_PICKLE_MSG}")


def read_cifar_bin(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary batch file: x (N, 3, 32, 32) uint8 (channels R, G, B), y (N,) int64.

    Raises :class:`CifarFileError` if the size is not a positive multiple of 3073 bytes, a
    label is outside 0..9, or the file is the pickle (python) version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {HOWTO}")
    _refuse_pickle(path)
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise CifarFileError(
            f"{path}: {size} bytes is not a positive whole number of CIFAR-10 records "
            f"({RECORD_BYTES} bytes each: 1 label + {IMAGE_BYTES} pixels; an official batch "
            f"has 10000 records = {10000 * RECORD_BYTES} bytes); the file is truncated or "
            f"not a binary batch")
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise CifarFileError(f"{path}: record {i} has label {int(labels[i])}, outside 0..9 "
                             f"({bad.size} bad labels in {len(labels)} records)")
    x = np.ascontiguousarray(records[:, 1:]).reshape(-1, *SHAPE)
    return x, labels.astype(np.int64)


def write_cifar_bin(path: str | os.PathLike, x: np.ndarray | torch.Tensor,
                    y: np.ndarray | torch.Tensor) -> None:
    """Write ``x`` (N, 3, 32, 32) uint8 and labels ``y`` (N,) in 0..9 as one binary batch."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != SHAPE:
        raise ParameterError(f"x must be uint8 of shape (N, 3, 32, 32), got {x.dtype} "
                             f"{tuple(x.shape)}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"y must be {len(x)} integer labels, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ParameterError(f"labels must be in 0..9, got {int(y.min())}..{int(y.max())}")
    records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(len(x), -1)], axis=1)
    records.tofile(path)


def _find_root(root: str | os.PathLike | None) -> Path:
    """The folder holding the .bin batches: ``root`` or $SPIKESCOPE_CIFAR10, or its
    cifar-10-batches-bin subfolder."""
    root = root or os.environ.get(ENV_VAR)
    if root is None:
        raise FileNotFoundError(f"CIFAR-10 is not shipped: {HOWTO}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder {root} does not exist: {HOWTO}")
    if (root / FOLDER).is_dir():
        root = root / FOLDER
    has_bin = any((root / n).exists() for names in CIFAR10_FILES.values() for n in names)
    if not has_bin and (root.name == "cifar-10-batches-py" or (root / "cifar-10-batches-py")
                        .is_dir() or any((root / n).exists() for n in _PICKLE_NAMES)):
        raise CifarFileError(f"{root}: {_PICKLE_MSG}")
    return root


def load_cifar10(split: str, root: str | os.PathLike | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 ``split`` ("train": data_batch_1..5.bin, all five required; "test":
    test_batch.bin) from ``root`` or $SPIKESCOPE_CIFAR10: x (N, 3, 32, 32) float32 in [0, 1],
    y (N,) int64."""
    check_choice("split", split, CIFAR10_FILES)
    folder = _find_root(root)
    paths = [folder / name for name in CIFAR10_FILES[split]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {split} split: {', '.join(missing)} missing in "
                                f"{folder}: {HOWTO}")
    parts = [read_cifar_bin(p) for p in paths]
    xf = np.concatenate([p[0] for p in parts]).astype(np.float32)
    y = np.concatenate([p[1] for p in parts])
    xf /= 255.0
    return torch.from_numpy(xf), torch.from_numpy(y)
