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

    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            integer and not float(value).is_integer()):
        raise ParameterError(f"{name} must be {kind}, got {value!r} "
                             f"({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ParameterError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and v > high:
        raise ParameterError(f"{name} must be <= {high}, got {value!r}")
    return int(v) if integer else v
