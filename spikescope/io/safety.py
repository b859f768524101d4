"""Reading model files without running them: size limit, format detection, pickle and zip checks.

Nothing that could execute code on load is ever unpickled. Pickles (the ``data.pkl`` of a
torch.save or TorchScript zip, or a bare legacy pickle) are first *scanned statically* with
:mod:`pickletools`: every ``GLOBAL``/``STACK_GLOBAL`` opcode names the callable the pickle would
import and call, and the file is refused with :class:`UnsafeModelError` unless every such name
is on :data:`SAFE_PICKLE_GLOBALS` (tensor/storage rebuilders, ``OrderedDict``) or is a
TorchScript class (``__torch__.*``, resolved by TorchScript's C++ unpickler to compiled
TorchScript classes, never to Python objects). TorchScript code (``code/*.py`` in the archive)
is checked to call only the ``aten``/``prim`` operator namespaces and none of the operators that
touch files (e.g. ``aten::from_file``); code defining ``__setstate__`` (the only TorchScript code
that runs during loading) is refused. A size limit (:data:`DEFAULT_MAX_BYTES`, ``max_bytes=``)
is checked before any byte is parsed.
"""

from __future__ import annotations

import io as _io
import os
import pickletools
import re
import zipfile
from pathlib import Path

from .errors import ModelLoadError, UnsafeModelError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Largest model file :func:`.models.load_model` reads by default (bytes); pass ``max_bytes=``."""

SAFE_PICKLE_GLOBALS = frozenset({
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_tensor",
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_tensor_from_id", "torch.jit._pickle.restore_type_tag",
    "torch.device", "torch.Size", "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout", "builtins.set",
} | {f"torch.{t}Storage" for t in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                    "Short", "Char", "Byte", "Bool", "Untyped")}
  | {f"torch.{t}" for t in ("float32", "float64", "float16", "bfloat16", "int64", "int32",
                            "int16", "int8", "uint8", "bool")})
"""Names a pickle may import: tensor and storage rebuilders, containers, dtypes."""

MAX_UNCOMPRESSED_FACTOR = 4
"""A zip-based file may declare at most this many times its size limit in uncompressed bytes."""
MAX_COMPRESSION_RATIO = 200
"""A zip member over 1 MiB declaring a higher uncompressed/compressed ratio is refused."""
MAX_SAFETENSORS_HEADER = 8 * 1024 * 1024
"""Largest safetensors JSON header read (bytes); real files need about 100 bytes a tensor."""

_TS_OP_NAMESPACES = ("aten", "prim")
# a forbidden name anywhere in the code, as a word (a comment or a line break between the name
# and its parenthesis must not hide a call)
_TS_FORBIDDEN = re.compile(r"\b(from_file|_load_for_\w+|save|load|open|system|exec|eval|"
                           r"__import__|compile)\b")
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8",
                         "SHORT_BINSTRING", "BINSTRING", "STRING"})
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
_NO_STACK_CHANGE = frozenset({"PROTO", "FRAME"})


# =============================================================================== loading
def read_input(path_or_bytes: str | os.PathLike | bytes | bytearray | _io.IOBase,
                max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes and a name for messages; the size limit is checked before reading."""
    if max_bytes is None or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes}")
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, name = bytes(path_or_bytes), "<bytes>"
        if len(data) > max_bytes:
            raise ModelLoadError(f"model of {len(data)} bytes exceeds the size limit of "
                                 f"{max_bytes} bytes (max_bytes=)")
    elif hasattr(path_or_bytes, "read"):
        name = "<stream>"
        data = path_or_bytes.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ModelLoadError(f"model stream exceeds the size limit of {max_bytes} bytes "
                                 f"(max_bytes=)")
    else:
        path = Path(path_or_bytes)
        name = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        size = path.stat().st_size
        if size > max_bytes:
            raise ModelLoadError(f"{path}: {size} bytes exceeds the size limit of {max_bytes} "
                                 f"bytes (max_bytes=)")
        data = path.read_bytes()
    if len(data) == 0:
        raise ModelLoadError(f"{name}: the file is empty")
    return data, name


def detect_format(data: bytes) -> str:
    """Guess the format of a model file from its bytes.

    Returns "torchscript", "torch" (torch.save zip), "pickle" (legacy pickle), "safetensors"
    or "onnx"; raises :class:`ModelLoadError` if none fits.
    """
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(_io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError, EOFError) as e:
            raise ModelLoadError(f"corrupt or truncated zip archive (torch/TorchScript): "
                                 f"{e}") from e
        if any("/code/" in n or n.startswith("code/") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        raise ModelLoadError("zip archive is neither a torch.save file nor a TorchScript "
                             "archive (no data.pkl)")
    if len(data) >= 10 and data[8:9] == b"{":
        # safetensors: an 8-byte little-endian header length, then a JSON object; checked
        # before the pickle test because the length's low byte can be 0x80 or 0x28
        n = int.from_bytes(data[:8], "little")
        if 2 <= n <= len(data) - 8 and data[8 + n - 1:8 + n] in (b"}", b" "):
            return "safetensors"
    if data[:1] == b"\x80" or data[:1] in (b"(", b"}", b"]", b"c"):
        return "pickle"
    if len(data) >= 9 and data[8:9] == b"{":
        return "safetensors"
    if data[:1] == b"\x08":  # protobuf field 1 (ir_version) varint: an ONNX ModelProto
        return "onnx"
    raise ModelLoadError("unknown model format: expected safetensors, torch.save state dict, "
                         "TorchScript (.pt) or ONNX (.onnx)")


def scan_pickle(data: bytes, *, what: str = "pickle",
                allow_torchscript_classes: bool = False) -> list[str]:
    """Statically list the globals a pickle would import; raise if any is not safe.

    Reads opcodes only (:func:`pickletools.genops`), never executes the pickle. A truncated
    or malformed pickle raises :class:`ModelLoadError`; an unsafe global raises
    :class:`UnsafeModelError` naming it.
    """
    found: list[str] = []
    # what the last stack-changing opcodes pushed: a string, or None for anything else. Memo
    # writes change no stack and memo reads push what was stored, so STACK_GLOBAL's two names
    # are known exactly when the last two pushes are known strings; otherwise it is refused.
    pushed: list[str | None] = []
    memo: dict[int, str | None] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in _STRING_OPS:
                pushed.append(arg if isinstance(arg, str) else str(arg))
            elif name in _MEMO_PUT:
                memo[len(memo) if name == "MEMOIZE" else arg] = pushed[-1] if pushed else None
            elif name in _MEMO_GET:
                pushed.append(memo.get(arg))
            elif name in _NO_STACK_CHANGE:
                pass
            elif name == "GLOBAL":
                found.append(arg.replace(" ", "."))
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                if len(pushed) < 2 or pushed[-1] is None or pushed[-2] is None:
                    raise UnsafeModelError(f"{what}: STACK_GLOBAL with a computed name "
                                           f"(not two literal strings); refused")
                found.append(f"{pushed[-2]}.{pushed[-1]}")
                pushed.append(None)
            elif name in ("INST", "OBJ"):
                if op.name == "INST":
                    found.append(str(arg).replace(" ", "."))
                else:
                    raise UnsafeModelError(f"{what}: OBJ opcode (builds arbitrary objects); "
                                           f"refused")
            else:
                pushed.append(None)
    except UnsafeModelError:
        raise
    except Exception as e:  # noqa: BLE001 - pickletools raises ValueError and friends
        raise ModelLoadError(f"{what}: corrupt or truncated pickle ({e})") from e
    for g in found:
        if g in SAFE_PICKLE_GLOBALS:
            continue
        if allow_torchscript_classes and g.startswith("__torch__."):
            continue
        raise UnsafeModelError(
            f"{what} would import and call {g!r} when loaded, which can run arbitrary code; "
            f"the file was refused and not executed. Save the weights with safetensors or "
            f"torch.save(model.state_dict()) instead.")
    return found


def check_zip_sizes(z: zipfile.ZipFile, what: str, max_total: int,
                    error: type[Exception] = ModelLoadError) -> None:
    """Refuse a zip archive whose members *declare* more than ``max_total`` uncompressed bytes
    together, or a member over 1 MiB compressed more than :data:`MAX_COMPRESSION_RATIO` times
    (a decompression bomb); nothing is decompressed."""
    total = 0
    for info in z.infolist():
        total += info.file_size
        if info.file_size > 2**20 and info.file_size > MAX_COMPRESSION_RATIO * max(
                info.compress_size, 1):
            raise error(f"{what}: zip member {info.filename!r} declares {info.file_size} "
                        f"bytes from {info.compress_size} compressed (ratio over "
                        f"{MAX_COMPRESSION_RATIO}); refused as a decompression bomb")
        if total > max_total:
            raise error(f"{what}: the zip archive declares over {max_total} uncompressed "
                        f"bytes (limit {MAX_UNCOMPRESSED_FACTOR} x the size limit); refused "
                        f"before decompressing (raise max_bytes= to accept it)")


def check_zip(data: bytes, what: str, max_total: int | None = None) -> zipfile.ZipFile:
    """The zip archive in ``data``, sizes checked (:func:`check_zip_sizes`) then every member's
    CRC; ModelLoadError if damaged or too large once decompressed."""
    if max_total is None:
        max_total = MAX_UNCOMPRESSED_FACTOR * max(len(data), DEFAULT_MAX_BYTES)
    try:
        z = zipfile.ZipFile(_io.BytesIO(data))
        check_zip_sizes(z, what, max_total)
        bad = z.testzip()
    except ModelLoadError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as e:
        raise ModelLoadError(f"{what}: corrupt or truncated zip archive ({e})") from e
    except Exception as e:  # noqa: BLE001 - zlib errors etc. on damaged members
        raise ModelLoadError(f"{what}: corrupt zip archive ({type(e).__name__}: {e})") from e
    if bad is not None:
        raise ModelLoadError(f"{what}: member {bad!r} of the zip archive is corrupt (CRC)")
    return z


def check_torchscript_archive(data: bytes, what: str, max_total: int | None = None) -> None:
    """Refuse a TorchScript zip whose pickles import unsafe names or whose code could run code."""
    z = check_zip(data, what, max_total)
    for n in z.namelist():
        if n.endswith(".pkl") and not n.endswith(".debug_pkl"):
            scan_pickle(z.read(n), what=f"{what} member {n}", allow_torchscript_classes=True)
        elif n.endswith(".debug_pkl"):
            scan_pickle(z.read(n), what=f"{what} member {n}")
        elif "/code/" in n and n.endswith(".py"):
            src = z.read(n).decode("utf-8", "replace")
            if "\\" in src:  # line continuations could split a name from its call
                raise UnsafeModelError(f"{what}: code {n} contains backslashes (line "
                                       f"continuations or escapes); refused")
            for ns in re.findall(r"\bops\.(\w+)\.", src):
                if ns not in _TS_OP_NAMESPACES:
                    raise UnsafeModelError(f"{what}: code {n} calls custom operators "
                                           f"'ops.{ns}' that could run arbitrary code; refused")
            if "__setstate__" in src:
                raise UnsafeModelError(f"{what}: code {n} defines __setstate__, which would run "
                                       f"while loading; refused (standard layers have none)")
            hit = _TS_FORBIDDEN.search(src)
            if hit:
                raise UnsafeModelError(f"{what}: code {n} calls {hit.group(1)!r}, which can "
                                       f"touch files or run code; refused")
