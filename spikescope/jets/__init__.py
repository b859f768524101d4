"""Jet tagging on the hls4ml LHC jet data (OpenML 42468 "hls4ml_lhc_jets_hlf").

Borzyszkowski (2019) classified jets into five classes -- gluon (g), light quark (q), W boson
(w), Z boson (z) and top quark (t) -- from 16 high-level jet-substructure features with the
hls4ml fully-connected network 16-64-32-32-5 (ReLU; Adam, lr 1e-4, minibatch 1024), then ran
the converted SNN on Loihi: ANN 75.2 %, SNN 69.7 % (SNN Toolbox) / 69.8 % (Nengo-Loihi), the Z
class the most confused. This module makes that case reproducible for users who have the data:

- :func:`read_jets` reads the ARFF or CSV file downloaded from openml.org (optionally gzipped),
  or finds it in a scikit-learn ``fetch_openml`` cache folder, and checks the exact schema.
- :func:`load_jets` applies the standard preprocessing: a fixed, stratified, seeded
  train/validation/test split (70/10/20 %) and standardization of every feature with the mean
  and standard deviation of the training split; :func:`one_hot` encodes labels.
- :func:`jet_mlp`, :func:`train_jet_mlp`, :func:`load_jet_mlp`: the model, trained on the
  user's file and saved as ``jet-mlp.safetensors`` + ``jet-mlp.json`` next to the data.
- :func:`compare` converts the ANN and runs the SNN; :func:`per_class_change` says in words
  which classes the SNN loses or gains.

Signed inputs. Standardized features are zero-centred, so about half of them are negative. With
``encoding="analog"`` the input layer is not spiking: the feature vector x is applied as the
constant input current I_1 = W_1 x + b_1 of the first hidden layer at every step (lambda_0 = 1),
so a negative feature is simply an inhibitory contribution and x needs no clipping or offset.
An IF neuron with reset by subtraction then fires at rate ~ clip(ReLU(z_1) / lambda_1, 0, 1)
per step: a net negative current drives V below zero and keeps it there (V is not bounded
below), which is the ReLU's zero. Input operations are counted as ceil(|x|) events times the
fan-out. The "poisson" encoding clips x to [0, 1] and would lose every negative feature, so
:func:`compare` always uses "analog".

No download happens at run time: see ``data/README.md`` for where to get the file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..zoo import train_epoch

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
MODEL_NAME = "jet-mlp"

HOWTO = (f"Download the OpenML data set {OPENML_ID} \"{OPENML_NAME}\" (ARFF or CSV) from "
         f"openml.org (see data/README.md), then pass its path (a .arff/.csv file, optionally "
         f".gz, or a scikit-learn fetch_openml cache folder) or set ${ENV_VAR} to it.")


class JetsSchemaError(ValueError):
    """The file is not the hls4ml_lhc_jets_hlf table (columns, labels or values are wrong)."""


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
    df = _read_arff(p) if _is_arff(p) else _read_csv(p)
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


def split_indices(y: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Fixed stratified train/val/test indices (70/10/20 %) for labels ``y`` (seeded)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    strat = y if np.bincount(y).min() >= 2 else None
    rest, test = train_test_split(idx, test_size=SPLIT_FRACTIONS["test"], random_state=seed,
                                  stratify=strat)
    val_frac = SPLIT_FRACTIONS["val"] / (1 - SPLIT_FRACTIONS["test"])
    strat = y[rest] if strat is not None and np.bincount(y[rest]).min() >= 2 else None
    train, val = train_test_split(rest, test_size=val_frac, random_state=seed, stratify=strat)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def standardize(x, mean: np.ndarray, std: np.ndarray):
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


def one_hot(y, n_classes: int = len(CLASSES)) -> torch.Tensor:
    """One-hot float32 (N, n_classes) of integer labels ``y``."""
    y = torch.as_tensor(y, dtype=torch.long)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes}), got {int(y.min())}..{int(y.max())}")
    return nn.functional.one_hot(y, n_classes).float()


# ----------------------------------------------------------------------------- the model
def jet_mlp() -> nn.Sequential:
    """The hls4ml jet tagger: 16-64-32-32-5, ReLU (logits out; softmax in the loss)."""
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))


def weights_path(path: str | os.PathLike | None = None) -> Path:
    """Where the trained jet-mlp lives: ``jet-mlp.safetensors`` next to the data file."""
    p = Path(path).expanduser() if path is not None else None
    if p is not None and p.suffix == ".safetensors":
        return p
    if p is not None and p.is_dir() and (p / f"{MODEL_NAME}.safetensors").exists():
        return p / f"{MODEL_NAME}.safetensors"
    data = resolve_path(path)
    folder = data.parent
    if "openml.org" in data.parts:  # keep weights at the top of a fetch_openml cache folder
        given = Path(path if path is not None else os.environ[ENV_VAR]).expanduser()
        folder = given if given.is_dir() else folder
    return folder / f"{MODEL_NAME}.safetensors"


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on (x, y)."""
    model.eval()
    logits = torch.cat([model(b) for b in x.split(8192)])
    loss = nn.functional.cross_entropy(logits, one_hot(y, logits.shape[1]))
    return float(loss), float((logits.argmax(1) == y).float().mean())


def train_jet_mlp(path: str | os.PathLike | None = None, *, epochs: int = 200,
                  patience: int = 10, lr: float = 1e-4, batch_size: int = 1024, seed: int = 0,
                  min_delta: float = 0.0, out_dir: str | os.PathLike | None = None,
                  progress: bool = True) -> dict:
    """Train :func:`jet_mlp` on the user's file and save it next to the data.

    Adam (lr 1e-4), minibatch 1024, categorical cross-entropy on one-hot labels (as the seed);
    early stopping: stops after ``patience`` epochs in which the validation loss did not fall
    more than ``min_delta`` below its best, and keeps the best weights. Seeded (initialization
    and shuffling). Writes ``jet-mlp.safetensors`` and ``jet-mlp.json`` (accuracies,
    standardization mean/std, settings) to ``out_dir`` or beside the data; returns the
    metadata. Ctrl-C stops training and saves the best so far.
    """
    if epochs < 1 or patience < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("epochs, patience and batch_size must be >= 1 and lr > 0")
    data = load_jets(path)
    torch.manual_seed(seed)
    model = jet_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xtr, ytr = data.x_train, data.y_train
    ttr = one_hot(ytr)
    best = (float("inf"), None, 0)  # (val loss, state, epoch)
    history = []
    bar = tqdm(range(1, epochs + 1), desc=f"training {MODEL_NAME}", disable=not progress)
    stopped = "max epochs"
    try:
        for epoch in bar:
            train_epoch(model, opt, xtr, ttr, batch_size, gen)
            val_loss, val_acc = _evaluate(model, data.x_val, data.y_val)
            history.append({"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_acc})
            bar.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
            if val_loss < best[0] - min_delta:
                best = (val_loss, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
            elif epoch - best[2] >= patience:
                stopped = "early stopping"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    test_loss, test_acc = _evaluate(model, data.x_test, data.y_test)
    meta = {"name": MODEL_NAME, "dataset": f"openml:{OPENML_ID}:{OPENML_NAME}",
            "source": data.source.name, "features": list(FEATURES), "classes": list(CLASSES),
            "test_accuracy": test_acc, "val_accuracy": _evaluate(model, data.x_val,
                                                                 data.y_val)[1],
            "train_accuracy": _evaluate(model, xtr, ytr)[1], "test_loss": test_loss,
            "best_epoch": best[2], "epochs_run": len(history), "stopped": stopped,
            "epochs": epochs, "patience": patience, "min_delta": min_delta, "lr": lr,
            "batch_size": batch_size,
            "seed": seed, "split_fractions": SPLIT_FRACTIONS, "split_seed": SPLIT_SEED,
            "n_train": len(ytr), "n_val": len(data.y_val), "n_test": len(data.y_test),
            "mean": data.mean.tolist(), "std": data.std.tolist(), "torch": torch.__version__,
            "history": history}
    out = (Path(out_dir) / f"{MODEL_NAME}.safetensors") if out_dir is not None \
        else weights_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    meta["weights"] = str(out)
    return meta


def load_jet_mlp(path: str | os.PathLike | None = None) -> nn.Module:
    """The trained jet-mlp (eval mode) saved by :func:`train_jet_mlp`.

    ``path``: the ``.safetensors`` file, a folder holding it, or the data file / folder (the
    weights are looked up beside the data); None = $SPIKESCOPE_JETS.
    """
    w = weights_path(path)
    if not w.is_file():
        raise FileNotFoundError(f"no trained {MODEL_NAME} at {w}; train it with "
                                f"`python scripts/train_jets.py {path or '$' + ENV_VAR}`")
    model = jet_mlp()
    try:
        model.load_state_dict(load_file(w))
    except RuntimeError as e:
        raise ValueError(f"{w} does not hold {MODEL_NAME} weights (16-64-32-32-5): {e}") from e
    return model.eval()


def model_info(path: str | os.PathLike | None = None) -> dict:
    """The metadata ``jet-mlp.json`` written beside the weights."""
    return json.loads(weights_path(path).with_suffix(".json").read_text())


# ----------------------------------------------------------------------------- ANN vs SNN
def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall per true class: diagonal / row sum (NaN for classes without samples)."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / rows, np.nan)


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Confusion matrix with each true-class row divided by its count (rows sum to 1)."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def _label(c: str) -> str:
    return f"{CLASS_NAMES[c]} ({c})" if c in CLASS_NAMES else str(c)


def per_class_change(cm_ann, cm_snn, class_names: Sequence[str] = CLASSES, *,
                     tolerance: float = 0.01) -> str:
    """State in words which classes the SNN loses or gains against the ANN.

    Compares per-class accuracy (recall, row-normalized diagonal) of two (C, C) confusion
    matrices (rows = true class); changes within ``tolerance`` (fraction) count as unchanged.
    Also names the overall accuracies and the SNN's most frequent confusion.
    """
    a, s = np.asarray(cm_ann), np.asarray(cm_snn)
    names = list(class_names)
    C = len(names)
    if a.shape != (C, C) or s.shape != (C, C):
        raise ValueError(f"confusion matrices must both be ({C}, {C}) for {C} class names; got "
                         f"{a.shape} and {s.shape}")
    pa, ps = per_class_accuracy(a), per_class_accuracy(s)
    lost, gained, same, empty = [], [], [], []
    for i, c in enumerate(names):
        if np.isnan(pa[i]) or np.isnan(ps[i]):
            empty.append(_label(c))
            continue
        d = ps[i] - pa[i]
        text = f"{_label(c)} {100 * pa[i]:.1f}% -> {100 * ps[i]:.1f}% ({100 * d:+.1f} points)"
        (lost if d < -tolerance else gained if d > tolerance else same).append((d, text))
    out = []
    acc_a = np.trace(a) / max(a.sum(), 1)
    acc_s = np.trace(s) / max(s.sum(), 1)
    out.append(f"Overall accuracy: ANN {100 * acc_a:.1f}%, SNN {100 * acc_s:.1f}% "
               f"({100 * (acc_s - acc_a):+.1f} points).")
    if lost:
        out.append("The SNN loses " + "; ".join(t for _, t in sorted(lost)) + ".")
    if gained:
        out.append("The SNN gains " + "; ".join(t for _, t in sorted(gained, reverse=True))
                   + ".")
    if same:
        out.append(f"Unchanged (within {100 * tolerance:g} points): "
                   + "; ".join(t for _, t in same) + ".")
    if not lost and not gained and same:
        out.append("The SNN matches the ANN on every class.")
    if empty:
        out.append("No samples of " + ", ".join(empty) + ".")
    off = row_normalize(s)
    np.fill_diagonal(off, -1)
    if C > 1 and off.max() > 0:
        i, j = np.unravel_index(int(off.argmax()), off.shape)
        worst = int(np.argmin(np.where(np.isnan(ps), np.inf, ps)))
        out.append(f"The SNN's most frequent confusion: {_label(names[i])} taken for "
                   f"{_label(names[j])} ({100 * off[i, j]:.1f}% of that class); its weakest "
                   f"class is {_label(names[worst])} ({100 * ps[worst]:.1f}%).")
    return " ".join(out)


@dataclass
class JetComparison:
    """ANN vs converted SNN on a set of jets: predictions, confusion matrices, the SNN run."""

    labels: np.ndarray
    ann_pred: np.ndarray
    recording: object  # spikescope.Recording
    net: object  # spikescope.SpikingNetwork
    class_names: tuple[str, ...] = CLASSES

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def timesteps(self) -> int:
        return self.recording.timesteps

    def snn_pred(self, t: int | None = None) -> np.ndarray:
        """SNN predictions after step ``t`` (None = last); -1 = no output spike yet."""
        return self.recording.predictions(t).cpu().numpy()

    @property
    def cm_ann(self) -> np.ndarray:
        from ..metrics import confusion_matrix

        return confusion_matrix(self.ann_pred, self.labels, self.n_classes)

    def cm_snn(self, t: int | None = None) -> np.ndarray:
        from ..metrics import confusion_matrix

        return confusion_matrix(self.snn_pred(t), self.labels, self.n_classes)

    @property
    def ann_accuracy(self) -> float:
        return float((self.ann_pred == self.labels).mean())

    def snn_accuracy(self, t: int | None = None) -> float:
        return float((self.snn_pred(t) == self.labels).mean())

    def accuracy_curve(self) -> np.ndarray:
        """(T,) SNN accuracy after each step."""
        return self.recording.accuracy_curve(torch.as_tensor(self.labels))

    def agreement(self, t: int | None = None) -> float:
        """Fraction of samples where the SNN predicts the ANN's class."""
        return float((self.snn_pred(t) == self.ann_pred).mean())

    def words(self, t: int | None = None) -> str:
        """:func:`per_class_change` of the ANN and the SNN at step ``t``."""
        return per_class_change(self.cm_ann, self.cm_snn(t), self.class_names)


def compare(model: nn.Module, x: torch.Tensor, y, *, calibration: torch.Tensor,
            timesteps: int = 100, percentile: float | None = 99.9, reset: str = "subtract",
            progress: bool = False, **convert_options) -> JetComparison:
    """Convert ``model`` (calibrated on ``calibration``) and run ANN and SNN on (x, y).

    The SNN gets the signed, standardized features as a constant analog input current (see
    the module docstring); it records spikes only (no membrane traces) to stay light.
    """
    from ..convert import convert

    x = torch.as_tensor(x, dtype=torch.float32)
    labels = np.asarray(torch.as_tensor(y).cpu()).astype(np.int64)
    with torch.no_grad():
        ann_pred = model.eval()(x).argmax(1).cpu().numpy()
    net = convert(model, calibration, percentile=percentile, reset=reset, **convert_options)
    rec = net.run(x, timesteps, encoding="analog", record=(), progress=progress)
    n_classes = net.n_classes
    names = CLASSES if n_classes == len(CLASSES) else tuple(str(i) for i in range(n_classes))
    return JetComparison(labels=labels, ann_pred=ann_pred, recording=rec, net=net,
                         class_names=names)
