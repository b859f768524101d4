"""Load a user's ANN safely: the four accepted formats, state dicts and architecture lookup.

:func:`load_model` accepts, detected from the file's bytes (:func:`.safety.detect_format`):

- **safetensors** state dict (tensors only, no code by construction);
- **torch.save** state dict (``.pt``/``.pth``), scanned (:func:`.safety.scan_pickle`), then read
  with ``torch.load(weights_only=True)`` (whose restricted unpickler is a second line of
  defence);
- **TorchScript** archive (``torch.jit.save``), see :mod:`.torchscript`;
- **ONNX** graph, see :mod:`.onnx`.
"""

from __future__ import annotations

import io as _io
import os
import pickletools
from typing import Any

import torch
from torch import nn

from ..convert.parse import SUPPORTED_LAYERS, ConversionError
from .errors import ModelLoadError, UnsafeModelError, UnsupportedLayer
from .onnx import load_onnx
from .safety import (
    DEFAULT_MAX_BYTES,
    MAX_SAFETENSORS_HEADER,
    MAX_UNCOMPRESSED_FACTOR,
    check_zip,
    detect_format,
    read_input,
    scan_pickle,
)
from .torchscript import load_torchscript


def _state_dict_from_torch(data: bytes, fmt: str, name: str,
                           max_total: int) -> dict[str, torch.Tensor]:
    what = f"{name} (torch.save file)"
    if fmt == "torch":
        z = check_zip(data, what, max_total)
        for n in z.namelist():
            if n.endswith(".pkl"):
                scan_pickle(z.read(n), what=f"{what} member {n}")
    else:
        # the legacy (pre-zip) torch format is up to five pickles in a row (magic number,
        # protocol, system info, the object, storage keys), then raw storage bytes
        stream = _io.BytesIO(data)
        for _ in range(5):
            start = stream.tell()
            if start >= len(data):
                break
            scan_pickle(data[start:], what=what)
            for _ in pickletools.genops(stream):  # skip to the end of this pickle
                pass
    try:
        obj = torch.load(_io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the restricted unpickler raises many types
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise UnsafeModelError(f"{what} would run code when loaded; refused ({e})") from e
        raise ModelLoadError(f"{what}: cannot be read, corrupt or truncated ({e})") from e
    return _as_state_dict(obj, what)


def _as_state_dict(obj: Any, what: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise ModelLoadError(f"{what}: expected a state dict (name -> tensor), got "
                             f"{type(obj).__name__}{' (empty)' if obj == {} else ''}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"{what}: entries {bad[:5]} are not tensors; expected a state dict")
    cplx = [k for k, v in obj.items() if v.is_complex()]
    if cplx:
        raise ModelLoadError(f"{what}: tensors {cplx[:5]} are complex; spikescope needs real "
                             f"weights (the imaginary part would be lost)")
    return {str(k): v for k, v in obj.items()}


def _state_dict_from_safetensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load as st_load

    n = int.from_bytes(data[:8], "little")
    if n > MAX_SAFETENSORS_HEADER:
        raise ModelLoadError(f"{name}: safetensors header of {n} bytes exceeds the limit of "
                             f"{MAX_SAFETENSORS_HEADER} bytes (spikescope.io.safety."
                             f"MAX_SAFETENSORS_HEADER)")
    if n > len(data) - 8:
        raise ModelLoadError(f"{name}: truncated safetensors file (header of {n} bytes, file "
                             f"has {len(data) - 8})")
    try:
        sd = st_load(data)
    except Exception as e:  # noqa: BLE001 - SafetensorError is not a public class
        raise ModelLoadError(f"{name}: corrupt safetensors file ({e})") from e
    return _as_state_dict(sd, f"{name} (safetensors)")


def _model_for_state_dict(sd: dict[str, torch.Tensor], architecture: str | None,
                          name: str) -> nn.Module:
    from .. import zoo

    def fits(arch: str) -> str | None:
        ref = zoo.architecture(arch).state_dict()
        if set(ref) != set(sd):
            missing, extra = sorted(set(ref) - set(sd)), sorted(set(sd) - set(ref))
            return f"missing keys {missing[:4]}, unexpected keys {extra[:4]}"
        for k, v in ref.items():
            if tuple(v.shape) != tuple(sd[k].shape):
                return f"{k} has shape {tuple(sd[k].shape)}, expected {tuple(v.shape)}"
        return None

    if architecture is None:
        reasons = {a: fits(a) for a in zoo.ARCHITECTURES}
        matches = [a for a, r in reasons.items() if r is None]
        if not matches:
            detail = "; ".join(f"{a}: {r}" for a, r in reasons.items())
            raise ModelLoadError(f"{name}: the state dict matches no known architecture "
                                 f"({detail}); pass architecture= or use TorchScript/ONNX")
        architecture = matches[0]
    elif architecture not in zoo.ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; available: "
                         f"{sorted(zoo.ARCHITECTURES)}")
    else:
        why = fits(architecture)
        if why is not None:
            raise ModelLoadError(f"{name}: the state dict does not fit architecture "
                                 f"{architecture!r}: {why}")
    from ..data import datasets

    model = zoo.architecture(architecture)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    model.architecture = architecture
    x, _ = datasets.load(zoo.dataset_of(architecture), "test")
    model.input_shape = tuple(x.shape[1:])
    return model.eval()


def _check_model_values(model: nn.Module, name: str) -> None:
    for k, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ModelLoadError(f"{name}: tensor {k!r} contains NaN or infinite values")
    for k, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(m, (nn.Linear, nn.Conv2d)) and isinstance(w, torch.Tensor) \
                and w.numel() == 0:
            raise ModelLoadError(f"{name}: layer {k!r} ({type(m).__name__}) has zero size "
                                 f"(weight shape {tuple(w.shape)})")


def load_model(path_or_bytes: str | os.PathLike | bytes | _io.IOBase, *,
               architecture: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
               strict: bool = True, allow_torchscript: bool = True) -> nn.Module:
    """Load a user's ANN safely as a plain torch ``nn.Module`` in eval mode.

    Args:
        path_or_bytes: a file path, the file's bytes (e.g. from an upload widget) or a stream.
        architecture: zoo architecture name for a state dict (``spikescope.zoo.ARCHITECTURES``);
            None detects it from the keys and shapes.
        max_bytes: size limit; larger files are refused before parsing.
        strict: if False, layers/operators spikescope cannot convert are kept as
            :class:`UnsupportedLayer` placeholders (for :func:`inspect_model`) instead of raising.
        allow_torchscript: TorchScript is code (checked, but code); False refuses it with
            :class:`UnsafeModelError` (the dashboard's default, see SECURITY.md).

    Returns:
        the model, with ``model.source_format`` (see :func:`detect_format`) and
        ``model.input_shape`` (per sample, e.g. (1, 8, 8); None when the file does not say,
        as for TorchScript); state dicts also get ``model.architecture``.

    Raises:
        UnsafeModelError: the file would import callables (run code) when unpickled.
        ModelLoadError: empty, truncated, corrupt, too large, unknown format, NaN/inf or
            zero-size weights, or a state dict that fits no architecture.
        ConversionError: an ONNX operator or TorchScript layer that cannot be converted
            (with ``strict=True``).
    """
    data, name = read_input(path_or_bytes, max_bytes)
    try:
        fmt = detect_format(data)
    except ModelLoadError as e:  # name the file in the message
        raise ModelLoadError(f"{name}: {e}") from e
    max_total = MAX_UNCOMPRESSED_FACTOR * max_bytes
    if fmt == "torchscript" and not allow_torchscript:
        raise UnsafeModelError(f"{name} is a TorchScript archive, which is code; it is "
                               f"accepted only when uploaded code is trusted (start the "
                               f"dashboard with `panel serve app/ --args --trust-uploaded-code`"
                               f" or pass allow_torchscript=True); use ONNX, safetensors or a "
                               f"torch.save state dict instead")
    if fmt in ("torch", "pickle"):
        model = _model_for_state_dict(_state_dict_from_torch(data, fmt, name, max_total),
                                      architecture, name)
    elif fmt == "safetensors":
        model = _model_for_state_dict(_state_dict_from_safetensors(data, name), architecture,
                                      name)
    elif fmt == "torchscript":
        model = load_torchscript(data, name, max_total)
    else:
        model = load_onnx(data, name, strict)
    model.source_format = fmt
    _check_model_values(model, name)
    if strict:
        bad = [m for m in model.modules() if isinstance(m, UnsupportedLayer)]
        if bad:
            raise ConversionError(f"{name}: unsupported layer(s) "
                                  f"{', '.join(sorted({m.kind for m in bad}))}; spikescope "
                                  f"converts {', '.join(SUPPORTED_LAYERS)} (load with "
                                  f"strict=False to inspect the model)")
    return model
