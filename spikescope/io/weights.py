"""Weights on disk: ``NAME.safetensors`` (tensors, never pickle) beside ``NAME.json`` (meta).

The one way spikescope stores a model's weights (zoo models, trained SNNs, jet-mlp).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def weight_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The (``.safetensors``, ``.json``) pair for ``path`` (with or without a suffix)."""
    stem = Path(path)
    if stem.suffix in (".safetensors", ".json"):
        stem = stem.with_suffix("")
    return Path(f"{stem}.safetensors"), Path(f"{stem}.json")


def save_weights(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                 meta: dict | None = None) -> Path:
    """Write ``tensors`` (e.g. a state dict) and the JSON-able ``meta``; returns the weights
    file. Tensors are detached, moved to the CPU and made contiguous first."""
    weights, info = weight_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(weights))
    if meta is not None:
        info.write_text(json.dumps(meta, indent=2) + "\n")
    return weights


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors written by :func:`save_weights` (FileNotFoundError naming the file)."""
    weights, _ = weight_paths(path)
    if not weights.exists():
        raise FileNotFoundError(f"{weights} not found")
    return load_file(str(weights))


def load_meta(path: str | os.PathLike) -> dict:
    """The JSON meta written beside the weights ({} when there is none)."""
    _, info = weight_paths(path)
    return json.loads(info.read_text()) if info.exists() else {}
