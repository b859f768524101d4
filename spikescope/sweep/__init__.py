"""Parameter sweeps: a grid of conversion/simulation settings run as tasks on dask.distributed.

A sweep (:class:`Sweep`, declared in code or in a YAML/TOML file) names a model, a data set, the
calibration and evaluation subset sizes, a seed and a grid, e.g. normalization percentile x
T x code x reset x model. Every grid point converts the ANN (:func:`spikescope.convert`), runs
the SNN on the evaluation subset and records accuracy over t, synaptic operations, spikes and,
when :mod:`spikescope.energy` is importable, energy, delay and EDP per platform.

Execution (:func:`run`): a ``LocalCluster`` of single-threaded worker processes by default, an
existing scheduler (``scheduler=`` or ``$SPIKESCOPE_SCHEDULER``) so the same sweep runs on many
machines, or in-process (``workers=0``). Models and data are scattered to every worker once.
Each finished point is written at once as its own Parquet part file under the output folder
(a Parquet data set; :func:`load_results` reads it), so a killed run keeps what it finished and
a rerun skips those points. Rows carry provenance: package versions, git commit, seed, params.

Example::

    from spikescope import sweep
    s = sweep.Sweep(model="digits-mlp", grid={"percentile": [99, 100], "timesteps": [20, 50]})
    df = sweep.run(s, "mlp.parquet", workers=2)
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import zoo
from ..convert import check_percentile, convert
from ..data import datasets
from ..sim.network import CODES

SCHEDULER_ENV = "SPIKESCOPE_SCHEDULER"
RESETS = ("subtract", "zero")
# Point settings that go to SpikingNetwork.run / the encoder; every other setting goes to convert.
RUN_KEYS = ("timesteps", "encoding")
ENCODING_KEYS = ("max_rate_hz",)
ALIASES = {"T": "timesteps", "models": "model", "percentiles": "percentile", "codes": "code",
           "resets": "reset"}
DEFAULTS: dict[str, Any] = {"timesteps": 100, "percentile": 99.9, "code": "rate",
                            "reset": "subtract", "encoding": "analog"}
# Columns that describe how/where a point ran rather than what it measured.
PROVENANCE_COLUMNS = ("worker", "elapsed_s", "finished_at", "git_commit", "versions", "host")

log = logging.getLogger(__name__)


class SweepError(RuntimeError):
    """Some points of a sweep failed (the finished ones are saved)."""


# ----------------------------------------------------------------------------- declaration
@dataclass
class Sweep:
    """A parameter sweep.

    Attributes:
        model: zoo model name (or a name in ``models``); may also vary in ``grid["model"]``.
        grid: setting -> list of values; the sweep is their Cartesian product. Settings:
            ``timesteps`` (alias ``T``), ``encoding``, ``max_rate_hz`` (poisson), ``model``,
            and any :func:`spikescope.convert` argument (``percentile``, ``code``, ``reset``,
            ``threshold``, ``leak``, ``bits``, ``clamp_delay``, ``readout``, ``dt_ms``, ...).
        fixed: settings shared by all points (same keys as ``grid``).
        dataset: data set name (default: the one the model was trained on).
        calibration_size: calibration images drawn (seeded) from the training split.
        eval_size: evaluation images drawn (seeded) from the test split (None = all).
        seed: seeds the subsets, torch and the poisson encoder.
        curve_points: how many steps of the accuracy/ops curves to keep per point.
        platforms: :mod:`spikescope.energy` platforms for energy/delay/EDP columns (None =
            every chip with an energy per synaptic op; [] = none).
        models: extra models by name (code-declared sweeps), shipped to workers like zoo ones.
        name: used for the default output folder ``NAME.parquet``.
    """

    model: str = "digits-mlp"
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    calibration_size: int = 200
    eval_size: int | None = 100
    seed: int = 0
    curve_points: int = 20
    platforms: Sequence[str] | None = None
    models: Mapping[str, nn.Module] = field(default_factory=dict, repr=False)
    name: str = "sweep"

    def __post_init__(self) -> None:
        self.grid = {_canonical_key(k): (list(v) if isinstance(v, (list, tuple)) else [v])
                     for k, v in dict(self.grid).items()}
        self.fixed = {_canonical_key(k): v for k, v in dict(self.fixed).items()}
        for k, v in self.grid.items():
            if not v:
                raise ValueError(f"grid setting {k!r} has no values")
        if int(self.calibration_size) < 1:
            raise ValueError(f"calibration_size must be >= 1, got {self.calibration_size}")
        if self.eval_size is not None and int(self.eval_size) < 1:
            raise ValueError(f"eval_size must be >= 1 or None (all), got {self.eval_size}")
        if int(self.curve_points) < 1:
            raise ValueError(f"curve_points must be >= 1, got {self.curve_points}")
        self.points()  # validate every point now, on the client, before any work is sent

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Sweep:
        """Build from a mapping with the attribute names as keys (as in a sweep file)."""
        known = {"model", "grid", "fixed", "dataset", "calibration_size", "eval_size", "seed",
                 "curve_points", "platforms", "name"}
        spec = dict(spec)
        spec.pop("out", None)
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown sweep field(s) {sorted(unknown)}; "
                             f"a sweep file has {sorted(known | {'out'})}")
        return cls(**spec)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Sweep:
        """Read a sweep from a ``.yaml``/``.yml`` or ``.toml`` file."""
        spec = read_spec(path)
        spec.setdefault("name", Path(path).stem)
        return cls.from_dict(spec)

    def to_dict(self) -> dict[str, Any]:
        """The declaration as plain data (what a sweep file holds)."""
        return {"name": self.name, "model": self.model, "dataset": self.dataset,
                "calibration_size": self.calibration_size, "eval_size": self.eval_size,
                "seed": self.seed, "curve_points": self.curve_points,
                "platforms": None if self.platforms is None else list(self.platforms),
                "fixed": dict(self.fixed), "grid": {k: list(v) for k, v in self.grid.items()}}

    # ------------------------------------------------------------------ points
    @property
    def varied(self) -> list[str]:
        """The grid settings that take more than one value."""
        return [k for k, v in self.grid.items() if len(v) > 1]

    def dataset_for(self, model: str) -> str:
        if self.dataset is not None:
            return self.dataset
        if model in self.models:
            raise ValueError(f"model {model!r} is not from the zoo: give the sweep a dataset")
        return zoo.dataset_of(model)

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as a dict of settings (with ``point_id``), in grid order."""
        base = {**DEFAULTS, "model": self.model, **self.fixed}
        keys = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            p = _normalize_point({**base, **dict(zip(keys, values))})
            self._check_point(p)
            p["dataset"] = p.get("dataset") or self.dataset_for(p["model"])
            p["point_id"] = point_id(p, self.context())
            out.append(p)
        return out

    def context(self) -> dict[str, Any]:
        """What, besides a point's settings, determines its numbers."""
        return {"calibration_size": int(self.calibration_size),
                "eval_size": None if self.eval_size is None else int(self.eval_size),
                "seed": int(self.seed), "curve_points": int(self.curve_points)}

    def _check_point(self, p: dict[str, Any]) -> None:
        if p["model"] not in self.models and p["model"] not in zoo.ARCHITECTURES:
            raise ValueError(f"unknown model {p['model']!r}; zoo models: "
                             f"{sorted(zoo.ARCHITECTURES)}, sweep models: {sorted(self.models)}")
        if p["code"] not in CODES:
            raise ValueError(f"unknown code {p['code']!r}; available: {sorted(CODES)}")
        if p["reset"] not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {p['reset']!r}")
        check_percentile(p["percentile"])
        t = p["timesteps"]
        if isinstance(t, bool) or int(t) != t or t < 1:
            raise ValueError(f"timesteps must be a positive integer, got {t!r}")


def _canonical_key(key: str) -> str:
    return ALIASES.get(key, key)


def _normalize_point(p: dict[str, Any]) -> dict[str, Any]:
    """Stable types (YAML gives 100 for 100.0) so equal settings hash and compare equal."""
    p = dict(p)
    if p.get("percentile") is not None:
        p["percentile"] = float(p["percentile"])
    p["timesteps"] = int(p["timesteps"])
    for k in ("threshold", "leak", "dt_ms", "max_rate_hz"):
        if p.get(k) is not None:
            p[k] = float(p[k])
    return p


def point_id(point: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """A stable id of a point's settings and the sweep context (used to skip finished points)."""
    settings = {k: v for k, v in point.items() if k != "point_id"}
    blob = json.dumps({"point": settings, "context": dict(context)}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def read_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a sweep file (YAML or TOML) into a dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep file {path} not found")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        spec = yaml.safe_load(text)
    elif path.suffix.lower() == ".toml":
        import tomllib

        spec = tomllib.loads(text)
    else:
        raise ValueError(f"{path}: a sweep file must end in .yaml, .yml or .toml")
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a sweep file must hold a mapping of fields, got {type(spec)}")
    return spec


# ----------------------------------------------------------------------------- one point
def select_data(dataset: str, calibration_size: int, eval_size: int | None,
                seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_calibration, x_eval, y_eval): seeded subsets of the train and test splits."""
    xtr, _ = datasets.load(dataset, "train")
    xte, yte = datasets.load(dataset, "test")
    gen = torch.Generator().manual_seed(int(seed))
    cal = torch.randperm(len(xtr), generator=gen)[:int(calibration_size)]
    ev = torch.randperm(len(xte), generator=gen)
    if eval_size is not None:
        ev = ev[:int(eval_size)]
    return xtr[cal].contiguous(), xte[ev].contiguous(), yte[ev].contiguous()


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    # One thread per task: the same numbers in-process and on single-threaded dask workers,
    # and no oversubscription when several workers share the cores.
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def curve_steps(timesteps: int, n: int) -> np.ndarray:
    """Up to ``n`` steps (1-based counts, always including T) at which curves are kept."""
    return np.unique(np.linspace(1, timesteps, min(n, timesteps)).round().astype(int))


def energy_platforms(names: Sequence[str] | None = None) -> list | None:
    """The :mod:`spikescope.energy` platforms to cost each point on (None if that module is
    missing): the named ones, or every chip with an energy per synaptic op. Resolved in the
    client so that platforms added or edited there reach the workers."""
    try:
        from .. import energy
    except ImportError:
        return None
    if names is None:
        return [p for p in energy.PLATFORMS.values() if p.energy_per_sop_j is not None]
    return [energy.get_platform(n) for n in names]


def _energy_columns(recording, labels: torch.Tensor, platforms: Sequence | None) -> dict:
    """Energy [J], delay [s] and EDP [J s] at T per platform, as columns ``COLUMN@PLATFORM``
    (thesis Sec. 3.3.1, via :func:`spikescope.energy.tradeoff`)."""
    if not platforms:
        return {}
    from .. import energy

    out: dict[str, float] = {}
    for p in platforms:
        last = energy.tradeoff(recording, labels, p).iloc[-1]
        for col in ("energy_j", "delay_s", "edp_js"):
            out[f"{col}@{p.name}"] = float(last[col])
    return out


def run_point(point: Mapping[str, Any], model: nn.Module,
              data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], seed: int = 0,
              curve_points: int = 20, platforms: Sequence | None = None) -> dict[str, Any]:
    """Convert, simulate and measure one grid point; returns one result row (plain values)."""
    t0 = time.perf_counter()
    x_cal, x_eval, y_eval = data
    settings = {k: v for k, v in point.items() if k not in ("point_id", "dataset", "model")}
    T = int(settings.pop("timesteps"))
    encoding = settings.pop("encoding")
    enc_opts = {k: settings.pop(k) for k in ENCODING_KEYS if k in settings}
    if encoding == "poisson":
        enc_opts.setdefault("seed", int(seed))
    with _torch_threads(1):
        torch.manual_seed(int(seed))
        net = convert(model, x_cal, **settings)
        rec = net.run(x_eval, T, encoding=encoding, record=(), **enc_opts)
        acc = rec.accuracy_curve(y_eval)
        ops = rec.synaptic_ops.double().cpu().numpy()
        steps = curve_steps(T, curve_points)
        row = {
            "point_id": point["point_id"],
            **{k: point[k] for k in point if k != "point_id"},
            "seed": int(seed),
            "n_eval": len(y_eval),
            "n_calibration": len(x_cal),
            "accuracy": float(acc[-1]),
            "ann_accuracy": zoo.accuracy(model, x_eval, y_eval),
            "synaptic_ops": float(ops[-1]),
            "spikes_per_sample": float(rec.total_spikes.double().mean()),
            "lambdas": [float(v) for v in net.lambdas],
            "curve_t": steps.tolist(),
            "curve_accuracy": [float(acc[s - 1]) for s in steps],
            "curve_ops": [float(ops[s - 1]) for s in steps],
            **_energy_columns(rec, y_eval, platforms),
        }
    row["elapsed_s"] = time.perf_counter() - t0
    row["host"] = socket.gethostname()
    return row


def _run_point_task(point, model, data, seed, curve_points, platforms):
    """Dask task: ``model`` and ``data`` arrive as the worker's copies of scattered objects."""
    from distributed import get_worker

    row = run_point(point, model, data, seed, curve_points, platforms)
    row["worker"] = get_worker().address
    return row


# ----------------------------------------------------------------------------- provenance
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


# ----------------------------------------------------------------------------- storage
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


# ----------------------------------------------------------------------------- execution
@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None,
            client=None) -> Iterator[Any]:
    """A dask Client: ``client`` as given, one to ``scheduler`` (or $SPIKESCOPE_SCHEDULER),
    else a new LocalCluster of ``workers`` single-threaded processes (closed on exit)."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    n = int(workers) if workers else max(1, min(os.cpu_count() or 1, 4))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as c:
        yield c


def run(sweep: Sweep, out: str | os.PathLike | None = None, *, scheduler: str | None = None,
        workers: int | None = None, client=None, retries: int = 2, progress: bool = True,
        on_result: Callable[[dict[str, Any]], None] | None = None) -> pd.DataFrame:
    """Run the unfinished points of ``sweep``, saving each as it finishes; return all results.

    Args:
        out: output folder (a Parquet data set), default ``NAME.parquet``.
        scheduler: address of a running dask scheduler (default $SPIKESCOPE_SCHEDULER).
        workers: size of the LocalCluster started when no scheduler/client is given;
            ``0`` runs the points one after another in this process (no dask), unless a
            scheduler is given here or in $SPIKESCOPE_SCHEDULER.
        client: an existing ``distributed.Client`` to use (left open).
        retries: dask retries per point (a point whose worker dies is rescheduled anyway).
        on_result: called with each new result row after it is saved (progress hooks).

    Raises:
        SweepError: some points failed; all others are saved (rerun to retry the failed ones).
    """
    out = Path(out) if out is not None else Path(f"{sweep.name}.parquet")
    points = sweep.points()
    done = finished_ids(out)
    todo = [p for p in points if p["point_id"] not in done]
    prov = provenance()
    meta = {"sweep": sweep.to_dict(), **prov}
    out.mkdir(parents=True, exist_ok=True)
    (out / "_sweep.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    if done:
        print(f"spikescope sweep: {len(points) - len(todo)} of {len(points)} points already "
              f"in {out}, skipped", file=sys.stderr)
    failures: list[tuple[dict, BaseException]] = []

    def finish(row: dict[str, Any]) -> None:
        row = {**row, "finished_at": pd.Timestamp.now(tz="UTC").isoformat(),
               "git_commit": prov["git_commit"],
               "versions": json.dumps(prov["versions"], sort_keys=True)}
        save_row(out, row, meta)
        if on_result is not None:
            on_result(row)

    if todo:
        bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=sweep.name,
                   unit="point", disable=not progress)
        try:
            if workers == 0 and scheduler is None and client is None \
                    and not os.environ.get(SCHEDULER_ENV):
                _run_serial(sweep, todo, finish, bar, failures)
            else:
                with connect(scheduler, workers, client) as c:
                    _run_dask(c, sweep, todo, finish, bar, failures, retries)
        finally:
            bar.close()
    if failures:
        point, err = failures[0]
        raise SweepError(f"{len(failures)} of {len(todo)} points failed (the others are saved "
                         f"in {out}); first failure at {_describe(point)}: "
                         f"{type(err).__name__}: {err}") from err
    df = load_results(out)
    order = {p["point_id"]: i for i, p in enumerate(points)}
    df = df[df["point_id"].isin(order)]
    return df.sort_values("point_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _describe(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items() if k != "point_id")


def _load_inputs(sweep: Sweep, points: list[dict]) -> tuple[dict, dict]:
    models = {m: sweep.models[m] if m in sweep.models else zoo.load(m)
              for m in dict.fromkeys(p["model"] for p in points)}
    data = {d: select_data(d, sweep.calibration_size, sweep.eval_size, sweep.seed)
            for d in dict.fromkeys(p["dataset"] for p in points)}
    return models, data


def _run_serial(sweep, todo, finish, bar, failures) -> None:
    models, data = _load_inputs(sweep, todo)
    platforms = energy_platforms(sweep.platforms)
    for p in todo:
        try:
            row = run_point(p, models[p["model"]], data[p["dataset"]], sweep.seed,
                            sweep.curve_points, platforms)
        except Exception as e:  # a bad point must not lose the others
            failures.append((p, e))
            continue
        row["worker"] = "local"
        finish(row)
        bar.update()


def _run_dask(client, sweep, todo, finish, bar, failures, retries) -> None:
    from distributed import as_completed

    link = client.dashboard_link
    print(f"spikescope sweep: dask dashboard at {link}" if link else
          "spikescope sweep: dask scheduler has no dashboard", file=sys.stderr)
    models, data = _load_inputs(sweep, todo)
    # Once per worker, not per task: tasks get references to the broadcast copies. Keys are
    # unique per run so that a model and a data set of the same name cannot collide.
    token = uuid.uuid4().hex[:8]
    platforms = energy_platforms(sweep.platforms)
    scattered = client.scatter({**{f"spikescope-model-{k}-{token}": v for k, v in models.items()},
                                **{f"spikescope-data-{k}-{token}": v for k, v in data.items()}},
                               broadcast=True, hash=False)
    futures = {}
    for p in todo:
        f = client.submit(_run_point_task, p, scattered[f"spikescope-model-{p['model']}-{token}"],
                          scattered[f"spikescope-data-{p['dataset']}-{token}"], sweep.seed,
                          sweep.curve_points, platforms, retries=retries, pure=False,
                          key=f"spikescope-point-{p['point_id']}-{token}")
        futures[f] = p
    try:
        for f in as_completed(futures):
            try:
                row = f.result()
            except Exception as e:
                failures.append((futures[f], e))
                continue
            finish(row)
            bar.update()
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        with contextlib.suppress(Exception):
            client.cancel(list(scattered.values()))


# ----------------------------------------------------------------------------- analysis
def pareto_front(df: pd.DataFrame, cost: str = "synaptic_ops",
                 value: str = "accuracy") -> np.ndarray:
    """Boolean mask of the rows no other row beats: lower-or-equal ``cost`` with higher-or-equal
    ``value``, strictly better in one (both minimised/maximised as named)."""
    c = df[cost].to_numpy(dtype=float)
    v = df[value].to_numpy(dtype=float)
    ok = np.isfinite(c) & np.isfinite(v)
    mask = np.zeros(len(df), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (c <= c[i]) & (v >= v[i]) & ((c < c[i]) | (v > v[i]))
        mask[i] = not dominated.any()
    return mask


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Measured scalar columns of a result table (accuracy, ops, spikes, energy/EDP@platform)."""
    base = ["accuracy", "ann_accuracy", "synaptic_ops", "spikes_per_sample"]
    extra = [c for c in df.columns if "@" in str(c)]
    return [c for c in base if c in df.columns] + extra
