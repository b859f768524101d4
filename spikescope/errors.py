"""The project's own exceptions, in one place.

Every error a user can cause with a file, a parameter or a URL is a :class:`SpikescopeError`
(a ``ValueError``, so ``except ValueError`` callers keep working) whose message names the input
and the field. The modules that raise them re-export their own (``spikescope.io.ModelLoadError``,
``spikescope.ConversionError``, ...).
"""

from __future__ import annotations


class SpikescopeError(ValueError):
    """Base of every error a user's input can cause in spikescope."""


class ParameterError(SpikescopeError):
    """A parameter (timesteps, threshold, percentile, device, ...) is of the wrong type or out
    of range; the message names it and the allowed values."""


class ModelLoadError(SpikescopeError):
    """A model file cannot be read: corrupt, truncated, too large, or of an unknown format."""


class UnsafeModelError(ModelLoadError):
    """A model file would run code when loaded; it was refused and nothing was executed."""


class RunFileError(SpikescopeError):
    """A run file (from ``spikescope.io.save_run``) is corrupt or not a spikescope run."""


class ConversionError(SpikescopeError):
    """The model cannot be converted: names the offending layer and what is supported."""


class EventFileError(SpikescopeError):
    """An event file is malformed (truncated, wrong magic number, out-of-range values)."""


class JetsSchemaError(SpikescopeError):
    """The file is not the hls4ml_lhc_jets_hlf table (columns, labels or values are wrong)."""


class SweepError(SpikescopeError, RuntimeError):
    """A sweep file or grid is invalid, or some points of a sweep failed (the finished ones
    are saved). Also a ``RuntimeError``, as it was before."""


class ResourceLimitError(SpikescopeError, MemoryError):
    """An input would need more memory or disk than its budget; refused before allocating."""


def check_choice(name: str, value: object, allowed) -> None:
    """Raise :class:`ParameterError` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ParameterError(f"{name} must be one of {allowed}, got {value!r}")


def check_number(name: str, value: object, *, integer: bool = False, low: float | None = None,
                 high: float | None = None, low_open: bool = False) -> float:
    """``value`` as a finite number in range, or :class:`ParameterError` naming ``name``."""
    import math
    import numbers

    kind = "integer" if integer else "number"
    if low is not None and high is not None:
        desc = f"a {kind} in {'(' if low_open else '['}{low}, {high}]"
    elif low is not None and low == (0 if low_open else 1) and (integer or low_open):
        desc = f"a positive {kind}"
    elif low is not None:
        desc = f"a finite {kind} {'>' if low_open else '>='} {low}"
    else:
        desc = f"a finite {kind}"
    msg = f"{name} must be {desc}, got {value!r:.60}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            integer and math.isfinite(float(value)) and not float(value).is_integer()):
        raise ParameterError(f"{msg} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) or (
            high is not None and v > high):
        raise ParameterError(msg)
    return int(v) if integer else v


def check_device(device: object) -> object:
    """``device`` if torch can use it here (None passes), else :class:`ParameterError` naming
    the devices available."""
    if device is None:
        return None
    import torch

    avail = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
                       if torch.cuda.is_available() else [])
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ParameterError(f"device must be one of {avail} (or a torch.device), got "
                             f"{device!r}") from e
    if dev.type == "cuda" and (not torch.cuda.is_available() or (
            dev.index is not None and dev.index >= torch.cuda.device_count())):
        raise ParameterError(f"device {device!r} is not available here; available: {avail}")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"device must be one of {avail}, got {device!r}")
    return device
