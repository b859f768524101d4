"""What every session draws from (no Panel imports): shared data sets, the zoo's trained SNNs,
the percentile choices, the neuron models, the one conversion call and the memory budget."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import gc
import os

import torch

from spikescope import datasets, zoo
from spikescope.convert import convert
from spikescope.neurons import NEURONS
from spikescope.sim.network import SpikingNetwork

#: Percentile choices: fine steps near 100, then "max" (= 100, max-norm) and "off" (None).
PERCENTILES: list = [90.0, 95.0, 97.0, 98.0, 99.0, 99.5, 99.7, 99.9, 99.95, 99.99, "max", "off"]
CALIBRATION_SIZE = 128
#: Memory one session may hold (converted networks, uploads, runs, an evaluation batch's
#: working memory), in bytes; the server's operator sets it with this environment variable.
BUDGET_ENV = "SPIKESCOPE_SESSION_MEMORY_BYTES"
SESSION_MEMORY_BYTES = int(os.environ.get(BUDGET_ENV, 1 << 30))
BUDGET_HINT = f"the server sets it with ${BUDGET_ENV}"
#: Samples per evaluation batch at most (fewer when the budget asks for it).
EVAL_BATCH = 60
#: Working memory of an evaluation batch per neuron and sample (membrane, input current,
#: spikes and counts of every layer, the allocator's slack): 68 measured on the 100k-neuron VGG.
EVAL_BYTES_PER_NEURON = 72


@functools.lru_cache(maxsize=16)
def shared_dataset(name: str, split: str, target: str = "label"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``datasets.load`` shared by all sessions (read-only tensors: loaded once per server)."""
    kwargs = {} if target == "label" else {"target": target}
    return datasets.load(name, split, **kwargs)


def is_trained_snn(model: str | None) -> bool:
    """True for the directly trained event SNNs of the zoo (no conversion)."""
    return model in zoo.SNN_MODELS


@functools.cache
def snn_info(model: str) -> dict:
    """``zoo.snn_info`` read once per server (the shipped metadata does not change)."""
    return zoo.snn_info(model)


def snn_task(model: str) -> str:
    """"classification" or "reconstruction" of a trained SNN (from its shipped info)."""
    return snn_info(model).get("task", "classification")


def model_names() -> list[str]:
    """The model choices: the zoo's ANNs with shipped weights, then its trained SNNs."""
    return zoo.names() + zoo.snn_names()


def percentile_value(choice: float | str | None) -> float | None:
    """The ``percentile`` argument of :func:`spikescope.convert` for a slider choice."""
    if choice == "max":
        return 100.0
    if choice == "off" or choice is None:
        return None
    return float(choice)


def accepts_leak(neuron: str, leak: float) -> bool:
    """True unless the registered neuron model ``neuron`` refuses ``leak`` (the "if" model
    refuses any leak but 1); a model that needs more to be built is left to the conversion."""
    try:
        NEURONS[neuron](leak=float(leak))
    except ValueError:
        return False
    except Exception:  # noqa: BLE001 - not a refused leak: convert reports it
        return True
    return True


def convert_network(ann: torch.nn.Module, calibration: torch.Tensor, key: tuple
                    ) -> SpikingNetwork:
    """:func:`spikescope.convert` of ``ann`` for a session's ``network_key()``."""
    _, _, code, pct, reset, thr, leak, clamp, neuron = key
    return convert(ann, calibration, percentile=percentile_value(pct), code=code, reset=reset,
                   threshold=thr, leak=leak, clamp_delay=clamp, neuron=neuron)


def default_choice(choices: list[str], preferred: str) -> str | None:
    """``preferred`` if it is among ``choices``, else the first choice (None if none)."""
    if preferred in choices:
        return preferred
    return choices[0] if choices else None


def nbytes(obj, _seen: set | None = None) -> int:
    """Bytes of the tensors and arrays ``obj`` holds (through modules, dataclasses,
    containers and attributes; each object counted once): what a session's caches cost."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or obj is None or isinstance(obj, (str, int, float, bool, type)):
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if hasattr(obj, "nbytes") and hasattr(obj, "dtype"):  # numpy
        return int(obj.nbytes)
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set)):
        return sum(nbytes(v, seen) for v in obj)
    if isinstance(obj, torch.nn.Module):
        return sum(nbytes(t, seen) for t in (*obj.parameters(), *obj.buffers())) + sum(
            nbytes(v, seen) for m in obj.modules() for k, v in vars(m).items()
            if not k.startswith("_"))
    if dataclasses.is_dataclass(obj):
        return sum(nbytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if hasattr(obj, "__dict__"):
        return sum(nbytes(v, seen) for v in vars(obj).values())
    return 0


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the system.

    glibc keeps freed blocks in its arenas (one per thread that allocated): without
    ``malloc_trim`` a finished evaluation's batches stay in the server's resident memory.
    """
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
