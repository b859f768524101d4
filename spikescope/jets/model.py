"""The jet-mlp: the hls4ml jet tagger of Borzyszkowski (2019), 16-64-32-32-5 with ReLU (Adam,
lr 1e-4, minibatch 1024), trained on the user's file and saved as ``jet-mlp.safetensors`` +
``jet-mlp.json`` next to the data (:mod:`spikescope.io.weights`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.jets import (
    CLASSES,
    ENV_VAR,
    FEATURES,
    OPENML_ID,
    OPENML_NAME,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    load_jets,
    one_hot,
    resolve_path,
)
from ..io.weights import load_meta, load_weights, save_weights, weight_paths
from ..metrics import accuracy
from ..training.loop import train_epoch

MODEL_NAME = "jet-mlp"


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
    return float(loss), accuracy(logits, y)


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
    meta["weights"] = str(save_weights(out, model.state_dict(), meta))
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
        model.load_state_dict(load_weights(w))
    except RuntimeError as e:
        raise ValueError(f"{w} does not hold {MODEL_NAME} weights (16-64-32-32-5): {e}") from e
    return model.eval()


def model_info(path: str | os.PathLike | None = None) -> dict:
    """The metadata ``jet-mlp.json`` written beside the weights."""
    w = weights_path(path)
    info = weight_paths(w)[1]
    if not info.is_file():
        raise FileNotFoundError(f"{info} not found")
    return load_meta(w)
