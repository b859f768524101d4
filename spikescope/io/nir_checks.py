"""Checks of a NIR graph before :func:`.nir.from_nir` reads it: structure, parameter values
and metadata, each error naming the node and the field (a hostile or damaged graph must end in
:class:`ConversionError`, never in a KeyError, ZeroDivisionError or AssertionError)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConversionError

#: Node metadata spikescope writes and reads back: field -> (check, what it must be).
_NODE_META = {"leak": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
              "threshold": (lambda v: 0 < v < math.inf, "a positive finite number")}
_NODE_META_STR = ("reset", "stage", "kind")
_NODE_META_INT = ("layer", "term", "part", "parts")  # where a node sits in spikescope's stages
_GRAPH_META_NUMBERS = ("dt_ms",)
_POSITIVE = {"tau", "v_threshold"}
_DIMS = {"Affine": {"weight": 2, "bias": 1}, "Linear": {"weight": 2},
         "Conv2d": {"weight": 4, "bias": 1}, "Conv1d": {"weight": 3, "bias": 1}}


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        a = np.asarray(v)
        return float(a) if a.size == 1 and a.dtype.kind in "fiu" else None
    except (TypeError, ValueError, OverflowError):
        return None


def _check_meta(meta: Any, where: str) -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ConversionError(f"{where}: metadata must be a mapping, got {type(meta).__name__}")
    return meta


def check_graph(graph: Any, dt_ms: Any = None) -> None:
    """Raise :class:`ConversionError` naming the node and field of the first bad value."""
    if dt_ms is not None:
        v = _number(dt_ms)
        if v is None or not math.isfinite(v) or v <= 0:
            raise ConversionError(f"dt_ms must be a positive finite number, got {dt_ms!r:.60}")
    nodes = graph.nodes
    if not isinstance(nodes, dict) or not all(isinstance(k, str) for k in nodes):
        raise ConversionError("NIR graph: nodes must map string names to nodes")
    for i, e in enumerate(graph.edges):
        if not (isinstance(e, (tuple, list)) and len(e) == 2):
            raise ConversionError(f"NIR graph: edge {i} must be a (source, target) pair, got "
                                  f"{e!r:.60}")
        for end in e:
            if not isinstance(end, str) or end not in nodes:
                raise ConversionError(f"NIR graph: edge {i} {tuple(e)!r:.80} names node "
                                      f"{end!r:.40}, which is not in the graph")
    meta = _check_meta(graph.metadata, "NIR graph")
    for k in _GRAPH_META_NUMBERS:
        if meta.get(k) is not None:
            v = _number(meta[k])
            if v is None or not math.isfinite(v) or v <= 0:
                raise ConversionError(f"NIR graph metadata {k!r} must be a positive finite "
                                      f"number, got {meta[k]!r:.60}")
    for key, node in nodes.items():
        kind = type(node).__name__
        nmeta = _check_meta(getattr(node, "metadata", None), f"NIR node {key!r}")
        for field, (ok, what) in _NODE_META.items():
            if nmeta.get(field) is not None:
                v = _number(nmeta[field])
                if v is None or not ok(v):
                    raise ConversionError(f"NIR node {key!r} metadata {field!r} must be {what}, "
                                          f"got {nmeta[field]!r:.60}")
        for field in _NODE_META_STR:
            if field in nmeta and not isinstance(nmeta[field], str):
                raise ConversionError(f"NIR node {key!r} metadata {field!r} must be a string, "
                                      f"got {nmeta[field]!r:.60}")
        for field in _NODE_META_INT:
            v = nmeta.get(field)
            if v is not None and not (isinstance(v, (int, np.integer))
                                      and not isinstance(v, bool) and 0 <= v < 2**31):
                raise ConversionError(f"NIR node {key!r} metadata {field!r} must be a "
                                      f"non-negative integer, got {v!r:.60}")
        for field, value in vars(node).items():
            if field in ("metadata", "input_type", "output_type") or value is None:
                continue
            try:
                a = np.asarray(value)
            except (TypeError, ValueError):
                continue
            if a.dtype.kind == "c":
                raise ConversionError(f"NIR node {key!r} ({kind}): {field} is complex")
            if a.dtype.kind not in "fiu":
                continue
            if not np.isfinite(a).all():
                raise ConversionError(f"NIR node {key!r} ({kind}): {field} contains NaN or "
                                      f"infinite values")
            if field in _POSITIVE and a.size and not (a > 0).all():
                raise ConversionError(f"NIR node {key!r} ({kind}): {field} must be > 0, got "
                                      f"{a.min():g}")
            want = _DIMS.get(kind, {}).get(field)
            if want is not None and a.ndim != want:
                raise ConversionError(f"NIR node {key!r} ({kind}): {field} must be {want}-D, "
                                      f"got shape {a.shape}")
