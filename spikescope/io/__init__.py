"""Load user models safely, exchange spiking networks as NIR, export and reload runs.

One module per role: :mod:`.safety` (size limit, format detection, pickle/zip/TorchScript
checks: nothing that could run code is ever unpickled), :mod:`.models` (:func:`load_model`:
safetensors, torch.save state dicts, TorchScript via :mod:`.torchscript`, ONNX via
:mod:`.onnx`), :mod:`.inspect` (:func:`inspect_model`), :mod:`.nir` (https://neuroir.org),
:mod:`.runs` (:func:`save_run` / :func:`load_run`), :mod:`.weights` (safetensors + JSON),
:mod:`.errors`.
"""

from .errors import ModelLoadError, RunFileError, UnsafeModelError, UnsupportedLayer
from .inspect import LayerInfo, ModelReport, inspect_model
from .models import load_model
from .nir import from_nir, load_nir, save_nir, to_nir
from .nir import nxt_is_output as nxt_is_output
from .runs import RUN_FORMAT as RUN_FORMAT
from .runs import RUN_VERSION as RUN_VERSION
from .runs import Run, load_run, save_run
from .safety import DEFAULT_MAX_BYTES, SAFE_PICKLE_GLOBALS, detect_format, scan_pickle

__all__ = ["load_model", "inspect_model", "detect_format", "scan_pickle", "ModelReport",
           "LayerInfo", "UnsupportedLayer", "ModelLoadError", "UnsafeModelError",
           "DEFAULT_MAX_BYTES", "SAFE_PICKLE_GLOBALS", "to_nir", "from_nir", "save_nir",
           "load_nir", "save_run", "load_run", "Run", "RunFileError"]
