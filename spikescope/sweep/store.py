"""Storing results: one Parquet part file per finished point (a Parquet data set that
:func:`load_results` reads), with the provenance of the process that ran it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

# Columns that describe how/where a point ran rather than what it measured.
PROVENANCE_COLUMNS = ("worker", "elapsed_s", "finished_at", "git_commit", "versions", "host")


def git_commit() -> str | None:
    """HEAD of the checkout spikescope runs from (``+dirty`` if it has changes), else None."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict[str, Any]:
    """Package versions, python, platform and git commit of the process that runs the sweep."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("spikescope", "torch", "numpy", "pandas", "pyarrow", "dask", "distributed"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {"git_commit": git_commit(), "versions": versions}


def _parts(out: Path) -> list[Path]:
    return sorted(out.glob("part-*.parquet")) if out.is_dir() else []


def load_results(out: str | os.PathLike) -> pd.DataFrame:
    """All finished points saved under ``out`` (one row per point id; empty if none)."""
    out = Path(out)
    if out.is_file():
        return pd.read_parquet(out)
    frames = [pd.read_parquet(p) for p in _parts(out)]
    if not frames:
        return pd.DataFrame(columns=["point_id"])
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates("point_id", keep="last").reset_index(drop=True)


def finished_ids(out: str | os.PathLike) -> set[str]:
    """Ids of the points already saved under ``out``."""
    df = load_results(out)
    return set(df["point_id"]) if len(df) else set()


def save_row(out: Path, row: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write one result row as ``out/part-POINTID.parquet`` (atomic: tmp file + rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([dict(row)])
    table = table.replace_schema_metadata({b"spikescope.sweep": json.dumps(meta,
                                                                           default=str).encode()})
    final = out / f"part-{row['point_id']}.parquet"
    tmp = out / f".tmp-{row['point_id']}-{uuid.uuid4().hex[:8]}.parquet"
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return final
