"""Run files: one ``.npz`` of arrays plus a JSON header (no pickle), enough to redraw a run."""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..sim.recording import Recording
from .errors import RunFileError
from .safety import DEFAULT_MAX_BYTES, MAX_UNCOMPRESSED_FACTOR, check_zip_sizes

RUN_FORMAT = "spikescope-run"
RUN_VERSION = 1
READOUTS = ("spikes", "membrane")


def _json_ready(obj: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(obj, default=_json_default, allow_nan=True))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must be JSON-serializable (numbers, strings, lists, "
                         f"dicts): {e}") from e


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.generic,)):
        return o.item()
    if isinstance(o, (np.ndarray, torch.Tensor)):
        return np.asarray(o.cpu() if isinstance(o, torch.Tensor) else o).tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")


def save_run(path: str | os.PathLike, net_params: dict, recording: Recording, *,
             plots: dict[str, Any] | None = None) -> Path:
    """Save a run: parameters, the Recording (summary and arrays) and extra plot data.

    One ``.npz`` file (no pickle): ``meta.json`` (format, parameters, ``recording.summary()``,
    layer names, dt, readout) plus the Recording's arrays and ``plots`` (name -> array, e.g. an
    accuracy curve or a confusion matrix), so every figure of the run can be drawn again.
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a spikescope Recording, got "
                        f"{type(recording).__name__}")
    if not isinstance(net_params, dict):
        raise TypeError(f"net_params must be a dict, got {type(net_params).__name__}")
    plots = dict(plots or {})
    meta = {"format": RUN_FORMAT, "version": RUN_VERSION,
            "params": _json_ready(net_params, "net_params"),
            "summary": _json_ready(recording.summary(), "summary"),
            "layer_names": list(recording.layer_names), "dt_ms": recording.dt_ms,
            "readout": recording.readout, "plots": sorted(plots),
            "has_trains": recording.spike_trains is not None,
            "has_membrane": recording.membrane is not None}
    arrays: dict[str, np.ndarray] = {
        "meta.json": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "output_counts": _np(recording.output_counts),
        "output_potential": _np(recording.output_potential),
        "layer_spikes": _np(recording.layer_spikes), "layer_ops": _np(recording.layer_ops)}
    for l in range(len(recording.layer_names)):
        arrays[f"spike_counts/{l}"] = _np(recording.spike_counts[l])
        if recording.spike_trains is not None:
            arrays[f"spike_trains/{l}"] = _np(recording.spike_trains[l])
        if recording.membrane is not None:
            arrays[f"membrane/{l}"] = _np(recording.membrane[l])
            if recording.membrane_neurons is not None:
                arrays[f"membrane_neurons/{l}"] = _np(recording.membrane_neurons[l])
    for k, v in plots.items():
        a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
        if a.dtype == object:
            raise ValueError(f"plot data {k!r} must be a numeric array, got objects")
        arrays[f"plot/{k}"] = a
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@dataclass
class Run:
    """A run read back by :func:`load_run`: parameters, summary, Recording and plot data."""

    params: dict
    summary: dict
    recording: Recording
    plots: dict[str, np.ndarray]


def load_run(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Run:
    """Read a run saved by :func:`save_run` (``allow_pickle=False``: arrays only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run file {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise RunFileError(f"{path}: exceeds the size limit of {max_bytes} bytes")
    try:
        with zipfile.ZipFile(path) as zf:  # declared sizes, before anything is inflated
            check_zip_sizes(zf, str(path), MAX_UNCOMPRESSED_FACTOR * max_bytes, RunFileError)
            _check_npy_headers(zf, path)
    except RunFileError:
        raise
    except Exception as e:  # noqa: BLE001 - not a zip at all
        raise RunFileError(f"{path}: not a readable run file ({type(e).__name__}: {e})") from e
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zip/npy errors of many kinds
        raise RunFileError(f"{path}: not a readable run file ({type(e).__name__}: {e})") from e
    try:
        meta = json.loads(arrays["meta.json"].tobytes().decode())
        _check_meta(meta, path)
        names = list(meta["layer_names"])
        L = len(names)
        t = torch.from_numpy

        def per_layer(prefix: str) -> list[torch.Tensor]:
            return [t(arrays[f"{prefix}/{l}"]) for l in range(L)]

        for l, c in enumerate(per_layer("spike_counts")):
            if c.dim() != 2:
                raise RunFileError(f"{path}: spike_counts/{l} must be 2-D (batch, neurons), "
                                   f"got shape {tuple(c.shape)}")
        for k in ("output_counts", "output_potential"):
            if arrays[k].ndim != 3:
                raise RunFileError(f"{path}: {k} must be 3-D (time, batch, classes), got "
                                   f"shape {arrays[k].shape}")
        rec = Recording(
            layer_names=names, spike_counts=per_layer("spike_counts"),
            output_counts=t(arrays["output_counts"]),
            output_potential=t(arrays["output_potential"]),
            layer_spikes=t(arrays["layer_spikes"]), layer_ops=t(arrays["layer_ops"]),
            spike_trains=per_layer("spike_trains") if meta["has_trains"] else None,
            membrane=per_layer("membrane") if meta["has_membrane"] else None,
            membrane_neurons=per_layer("membrane_neurons")
            if meta["has_membrane"] and f"membrane_neurons/{0}" in arrays else None,
            dt_ms=float(meta["dt_ms"]), readout=meta["readout"])
        plots = {k: arrays[f"plot/{k}"] for k in meta["plots"]}
    except RunFileError:
        raise
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, OverflowError,
            AttributeError, IndexError) as e:
        raise RunFileError(f"{path}: incomplete or corrupt run file ({type(e).__name__}: "
                           f"{e})") from e
    return Run(params=meta["params"], summary=meta["summary"], recording=rec, plots=plots)


def _check_npy_headers(zf: zipfile.ZipFile, path: Path) -> None:
    """Every member is a ``.npy`` array whose header declares no more bytes than the member
    holds: a crafted shape (say 10**12 elements) is refused before numpy allocates it."""
    fmt = np.lib.format
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise RunFileError(f"{path}: unexpected member {info.filename!r:.80} (a run file "
                               f"holds .npy arrays only)")
        with zf.open(info) as f:
            try:
                version = fmt.read_magic(f)
                read = fmt.read_array_header_1_0 if version == (1, 0) \
                    else fmt.read_array_header_2_0
                shape, _, dtype = read(f)
            except Exception as e:  # noqa: BLE001 - any malformed header
                raise RunFileError(f"{path}: member {info.filename!r:.80} is not a valid .npy "
                                   f"array ({type(e).__name__}: {e})") from e
        if dtype.hasobject:
            raise RunFileError(f"{path}: not a readable run file: member "
                               f"{info.filename!r:.80} holds Python objects (refused unread: "
                               f"a run file holds numbers only)")
        n = math.prod(shape) * dtype.itemsize
        if n > info.file_size:
            raise RunFileError(f"{path}: member {info.filename!r:.80} declares shape "
                               f"{shape!s:.80} ({n} bytes) but holds {info.file_size} bytes")


def _check_meta(meta: Any, path: Path) -> None:
    """meta.json's fields: types and ranges, each error naming the field."""
    if not isinstance(meta, dict):
        raise RunFileError(f"{path}: meta.json must be a JSON object, got "
                           f"{type(meta).__name__}")
    if meta.get("format") != RUN_FORMAT:
        raise RunFileError(f"{path}: not a spikescope run (meta.json format "
                           f"{meta.get('format')!r})")
    v = meta.get("version", 0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v < 0:
        raise RunFileError(f"{path}: meta.json version must be a non-negative number, got {v!r}")
    if v > RUN_VERSION:
        raise RunFileError(f"{path}: run format version {v} is newer than this spikescope "
                           f"({RUN_VERSION})")
    fields = {"params": dict, "summary": dict, "layer_names": list, "plots": list,
              "has_trains": bool, "has_membrane": bool}
    for k, typ in fields.items():
        if not isinstance(meta.get(k), typ):
            raise RunFileError(f"{path}: meta.json field {k!r} must be a {typ.__name__}, got "
                               f"{meta.get(k)!r:.60}")
    if not all(isinstance(n, str) for n in meta["layer_names"] + meta["plots"]):
        raise RunFileError(f"{path}: meta.json fields 'layer_names' and 'plots' must list "
                           f"strings")
    dt = meta.get("dt_ms")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise RunFileError(f"{path}: meta.json field 'dt_ms' must be a positive number, got "
                           f"{dt!r}")
    ro = meta.get("readout")
    if ro not in READOUTS:
        raise RunFileError(f"{path}: meta.json field 'readout' must be one of {list(READOUTS)}, "
                           f"got {ro!r:.60}")
