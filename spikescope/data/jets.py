"""The hls4ml LHC jet data (OpenML 42468 "hls4ml_lhc_jets_hlf"): finding, reading, checking,
splitting and standardizing the user's file.

Borzyszkowski (2019) classified jets into five classes -- gluon (g), light quark (q), W boson
(w), Z boson (z) and top quark (t) -- from 16 high-level jet-substructure features (the model
and the ANN-vs-SNN comparison are in :mod:`spikescope.jets`).

- :func:`read_jets` reads the ARFF or CSV file downloaded from openml.org (optionally gzipped),
  or finds it in a scikit-learn ``fetch_openml`` cache folder, and checks the exact schema.
- :func:`load_jets` applies the standard preprocessing: a fixed, stratified, seeded
  train/validation/test split (70/10/20 %) and standardization of every feature with the mean
  and standard deviation of the training split; :func:`one_hot` encodes labels.

No download happens at run time: see ``data/README.md`` for where to get the file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

OPENML_ID = 42468
OPENML_NAME = "hls4ml_lhc_jets_hlf"
ENV_VAR = "SPIKESCOPE_JETS"
FEATURES: tuple[str, ...] = (
    "zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt",
    "d2_b1_mmdt", "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt", "m2_b2_mmdt",
    "n2_b1_mmdt", "n2_b2_mmdt", "mass_mmdt", "multiplicity")
LABEL = "class"
CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")
CLASS_NAMES = {"g": "gluon", "q": "light quark", "w": "W boson", "z": "Z boson", "t": "top quark"}
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_SEED = 0

HOWTO = (f"Download the OpenML data set {OPENML_ID} \"{OPENML_NAME}\" (ARFF or CSV) from "
         f"openml.org (see data/README.md), then pass its path (a .arff/.csv file, optionally "
         f".gz, or a scikit-learn fetch_openml cache folder) or set ${ENV_VAR} to it.")


from ..errors import JetsSchemaError as JetsSchemaError  # noqa: E402 - the hierarchy


# ----------------------------------------------------------------------------- finding the file
def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """The jet data file: ``path`` or $SPIKESCOPE_JETS (a file or a folder holding one).

    Raises FileNotFoundError with download instructions when nothing is configured or found.
    """
    given = path if path is not None else os.environ.get(ENV_VAR)
    if not given:
        raise FileNotFoundError(f"The hls4ml LHC jet data are not shipped with spikescope and no "
                                f"file is configured. {HOWTO}")
    p = Path(given).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"jet data file {p} does not exist. {HOWTO}")
    return _find_in_folder(p) if p.is_dir() else p


def _find_in_folder(folder: Path) -> Path:
    """The data file inside a fetch_openml cache folder, or the one ARFF/CSV file in a folder."""
    # scikit-learn mirrors OpenML URLs under <data_home>/openml/openml.org/<url path>.gz
    for desc in sorted(folder.rglob(f"api/v1/json/data/{OPENML_ID}.gz")):
        root = desc.parents[4]  # .../openml.org
        try:
            with gzip.open(desc, "rt", encoding="utf-8") as f:
                url = json.load(f)["data_set_description"]["url"]
        except (OSError, ValueError, KeyError) as e:
            raise JetsSchemaError(f"{desc}: unreadable OpenML data set description ({e})") from e
        rel = urlparse(url).path.lstrip("/")
        for cand in (root / (rel + ".gz"), root / rel):
            if cand.is_file():
                return cand
        raise FileNotFoundError(f"{folder} holds the OpenML description of data set "
                                f"{OPENML_ID} but not its data file {root / (rel + '.gz')}. "
                                f"{HOWTO}")
    pattern = re.compile(r"\.(arff|csv)(\.gz)?$", re.IGNORECASE)
    files = sorted(p for p in folder.iterdir() if p.is_file() and pattern.search(p.name))
    if len(files) > 1:
        named = [p for p in files if "jet" in p.name.lower() or "hls4ml" in p.name.lower()]
        files = named if len(named) == 1 else files
    if len(files) == 1:
        return files[0]
    if not files:
        raise FileNotFoundError(f"no .arff or .csv file (nor a fetch_openml cache of data set "
                                f"{OPENML_ID}) in {folder}. {HOWTO}")
    raise FileNotFoundError(f"{folder} holds several candidate files "
                            f"({', '.join(p.name for p in files)}); pass the file itself")


# ----------------------------------------------------------------------------- reading
def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def _is_arff(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".arff"):
        return True
    if name.endswith(".csv"):
        return False
    with _open_text(path) as f:  # fetch_openml caches ARFF files; sniff unknown suffixes
        for line in f:
            s = line.strip()
            if s and not s.startswith("%"):
                return s.lower().startswith("@relation")
    return False


_ATTRIBUTE = re.compile(r"@attribute\s+('(?:[^'\\]|\\.)*'|\"[^\"]*\"|\S+)\s+(.+)$", re.IGNORECASE)


def _read_arff(path: Path):
    """ARFF -> pandas DataFrame of strings/numbers with the declared attribute names."""
    import pandas as pd

    names: list[str] = []
    with _open_text(path) as f:
        while True:
            line = f.readline()
            if not line:
                raise JetsSchemaError(f"{path}: ARFF file has no @data section")
            s = line.strip()
            if not s or s.startswith("%") or s.lower().startswith("@relation"):
                continue
            if s.lower().startswith("@attribute"):
                m = _ATTRIBUTE.match(s)
                if not m:
                    raise JetsSchemaError(f"{path}: cannot parse ARFF line {s[:80]!r}")
                names.append(m.group(1).strip("'\""))
            elif s.lower().startswith("@data"):
                break
            else:
                raise JetsSchemaError(f"{path}: unexpected line in the ARFF header: {s[:80]!r}")
        _check_columns(names, path)
        body = f.read()
    if body.lstrip().startswith("{"):
        raise JetsSchemaError(f"{path}: sparse ARFF data are not supported; export the data "
                              f"set as dense ARFF or CSV")
    try:
        return pd.read_csv(io.StringIO(body), header=None, names=names, quotechar="'",
                           skipinitialspace=True, comment="%", na_values=["?"],
                           keep_default_na=False, dtype={LABEL: str})
    except (pd.errors.ParserError, ValueError) as e:
        raise JetsSchemaError(f"{path}: ARFF data rows do not match the {len(names)} declared "
                              f"attributes ({e})") from e


def _read_csv(path: Path):
    import pandas as pd

    try:
        df = pd.read_csv(path, compression="infer", skipinitialspace=True, dtype={LABEL: str},
                         na_values=["?"], keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise JetsSchemaError(f"{path}: not a readable CSV table ({e})") from e
    df.columns = [str(c).strip().strip("'\"") for c in df.columns]
    _check_columns(list(df.columns), path)
    return df


def _check_columns(columns: Sequence[str], source) -> None:
    expected = (*FEATURES, LABEL)
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    dup = sorted({c for c in columns if list(columns).count(c) > 1})
    if missing or extra or dup:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        if dup:
            parts.append(f"duplicated columns {dup}")
        raise JetsSchemaError(f"{source}: not the {OPENML_NAME} schema: {'; '.join(parts)}. "
                              f"Expected exactly the 16 features {list(FEATURES)} and the "
                              f"label column {LABEL!r} with values {list(CLASSES)}.")


def read_jets(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (N, 16) float32 in :data:`FEATURES` order and labels (N,) int64.

    Labels index :data:`CLASSES` (g, q, w, z, t). ``path``: ARFF or CSV file (optionally
    gzipped), a folder holding one, or a fetch_openml cache folder; None = $SPIKESCOPE_JETS.

    Raises:
        FileNotFoundError: nothing configured or found (the message says how to get the data).
        JetsSchemaError: missing/extra columns, unknown labels, missing or non-numeric values.
    """
    p = resolve_path(path)
    try:
        df = _read_arff(p) if _is_arff(p) else _read_csv(p)
    except UnicodeDecodeError as e:
        raise JetsSchemaError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); expected "
                              f"the ARFF or CSV table") from e
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise JetsSchemaError(f"{p}: truncated or corrupt file ({type(e).__name__}: {e})") from e
    if len(df) == 0:
        raise JetsSchemaError(f"{p}: the table has no rows")
    labels = df[LABEL].astype(str).str.strip().str.strip("'\"")
    unknown = sorted(set(labels.unique()) - set(CLASSES))
    if unknown:
        raise JetsSchemaError(f"{p}: unknown class labels {unknown[:10]} in column {LABEL!r}; "
                              f"expected {list(CLASSES)} (gluon, light quark, W, Z, top)")
    x = np.empty((len(df), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        col = df[name]
        if col.dtype.kind not in "fiu":
            import pandas as pd

            col = pd.to_numeric(col, errors="coerce")
        bad = ~np.isfinite(col.to_numpy(dtype=np.float64))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise JetsSchemaError(f"{p}: feature {name!r} has {int(bad.sum())} missing or "
                                  f"non-numeric values (first at data row {row}: "
                                  f"{df[name].iloc[row]!r})")
        x[:, j] = col.to_numpy(dtype=np.float32)
    y = labels.map({c: i for i, c in enumerate(CLASSES)}).to_numpy(dtype=np.int64)
    return x, y


# ----------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class JetData:
    """Standardized splits of the jet data (tensors) and the training-split statistics."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: np.ndarray
    std: np.ndarray
    source: Path

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of split ``name`` in :data:`SPLITS`."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")


MIN_ROWS = 20
"""Fewest rows :func:`split_indices` splits (each split needs a few rows of data)."""


def split_indices(y: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Fixed stratified train/val/test indices (70/10/20 %) for labels ``y`` (seeded)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    if len(y) < MIN_ROWS:
        raise JetsSchemaError(f"the table has {len(y)} rows, too few for the 70/10/20 "
                              f"train/val/test split (at least {MIN_ROWS} rows)")
    strat = y if np.bincount(y).min() >= 2 else None
    rest, test = train_test_split(idx, test_size=SPLIT_FRACTIONS["test"], random_state=seed,
                                  stratify=strat)
    val_frac = SPLIT_FRACTIONS["val"] / (1 - SPLIT_FRACTIONS["test"])
    strat = y[rest] if strat is not None and np.bincount(y[rest]).min() >= 2 else None
    train, val = train_test_split(rest, test_size=val_frac, random_state=seed, stratify=strat)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std per feature (std = 0 is treated as 1)."""
    std = np.where(np.asarray(std) > 0, std, 1.0).astype(np.float32)
    return (x - np.asarray(mean, dtype=np.float32)) / std


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int, seed: int) -> JetData:
    x, y = read_jets(path)
    if len(y) < 10:
        raise JetsSchemaError(f"{path}: only {len(y)} rows; need at least 10 for a "
                              f"train/val/test split")
    idx = split_indices(y, seed)
    mean = x[idx["train"]].astype(np.float64).mean(0)
    std = x[idx["train"]].astype(np.float64).std(0)
    xs = standardize(x, mean, std).astype(np.float32)
    parts = {}
    for name, i in idx.items():
        parts[f"x_{name}"] = torch.from_numpy(np.ascontiguousarray(xs[i]))
        parts[f"y_{name}"] = torch.from_numpy(y[i])
    return JetData(**parts, mean=mean, std=std, source=Path(path))


def load_jets(path: str | os.PathLike | None = None, *, seed: int = SPLIT_SEED) -> JetData:
    """Read, split (fixed, stratified, seeded) and standardize the jet data (cached per file)."""
    p = resolve_path(path).resolve()
    st = p.stat()
    return _load_cached(str(p), st.st_mtime_ns, st.st_size, int(seed))


def load(split: str = "test", path: str | os.PathLike | None = None) -> tuple[torch.Tensor,
                                                                                torch.Tensor]:
    """Standardized (x float32 (N, 16), y int64 (N,)) of ``split`` in train/val/test."""
    x, y = load_jets(path).split(split)
    return x.clone(), y.clone()


def one_hot(y: torch.Tensor | np.ndarray | Sequence[int], n_classes: int = len(CLASSES)
            ) -> torch.Tensor:
    """One-hot float32 (N, n_classes) of integer labels ``y``."""
    y = torch.as_tensor(y, dtype=torch.long)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes}), got {int(y.min())}..{int(y.max())}")
    return nn.functional.one_hot(y, n_classes).float()
