"""Declaring a sweep: :class:`Sweep` (in code or a YAML/TOML file), setting aliases and
defaults, point normalization and the stable point ids used to skip finished points."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .. import zoo
from ..convert import check_percentile
from ..errors import SweepError
from ..neurons import RESETS
from ..sim.network import CODES

# Point settings that go to SpikingNetwork.run / the encoder; every other setting goes to convert.
RUN_KEYS = ("timesteps", "encoding")
ALIASES = {"T": "timesteps", "models": "model", "percentiles": "percentile", "codes": "code",
           "resets": "reset"}
MAX_POINTS = 10_000
"""Largest grid a sweep accepts by default (``Sweep(max_points=...)``, ``--max-points``)."""
_SCALARS = (str, int, float, bool, type(None))
DEFAULTS: dict[str, Any] = {"timesteps": 100, "percentile": 99.9, "code": "rate",
                            "reset": "subtract", "encoding": "analog"}


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
    max_points: int = MAX_POINTS

    def __post_init__(self) -> None:
        for f in ("grid", "fixed"):
            if not isinstance(getattr(self, f), Mapping):
                raise SweepError(f"sweep field {f!r} must be a mapping of setting -> "
                                 f"{'values' if f == 'grid' else 'value'}, got "
                                 f"{type(getattr(self, f)).__name__}")
        if not isinstance(self.model, str):
            raise SweepError(f"sweep field 'model' must be a model name, got {self.model!r}")
        for f in ("calibration_size", "eval_size", "seed", "curve_points", "max_points"):
            v = getattr(self, f)
            if not (v is None and f == "eval_size") and (isinstance(v, bool)
                                                          or not isinstance(v, int)):
                raise SweepError(f"sweep field {f!r} must be an integer, got {v!r}")
        self.grid = {_canonical_key(k): (list(v) if isinstance(v, (list, tuple)) else [v])
                     for k, v in dict(self.grid).items()}
        self.fixed = {_canonical_key(k): v for k, v in dict(self.fixed).items()}
        for k, v in [*self.grid.items(), *((k, [v]) for k, v in self.fixed.items())]:
            if not isinstance(k, str):
                raise SweepError(f"sweep setting names must be strings, got {k!r}")
            if not v:
                raise SweepError(f"grid setting {k!r} has no values")
            bad = [x for x in v if not isinstance(x, _SCALARS)]
            if bad:
                raise SweepError(f"setting {k!r} takes numbers, strings or booleans, got "
                                 f"{bad[0]!r:.60}")
        n = 1
        for v in self.grid.values():
            n *= len(v)
        if n > self.max_points:
            raise SweepError(f"the grid has {n} points, over the limit of {self.max_points}; "
                             f"split the sweep or raise the limit (max_points: in the file, "
                             f"--max-points on the command line)")
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
                 "curve_points", "platforms", "name", "max_points"}
        spec = dict(spec)
        spec.pop("out", None)
        unknown = set(spec) - known
        if unknown:
            raise SweepError(f"unknown sweep field(s) {sorted(unknown)}; "
                             f"a sweep file has {sorted(known | {'out'})}")
        return cls(**spec)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Sweep:
        """Read a sweep from a ``.yaml``/``.yml`` or ``.toml`` file."""
        spec = read_spec(path)
        spec.setdefault("name", Path(path).stem)
        try:
            return cls.from_dict(spec)
        except SweepError as e:
            raise SweepError(f"{path}: {e}") from e
        except (ValueError, TypeError, OverflowError, KeyError) as e:
            raise SweepError(f"{path}: {e}") from e

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
    for k, typ in (("percentile", float), ("timesteps", int), ("threshold", float),
                   ("leak", float), ("dt_ms", float), ("max_rate_hz", float)):
        v = p.get(k)
        if v is None and k != "timesteps":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (
                float("inf"), float("-inf")) or (typ is int and int(v) != v):
            raise SweepError(f"setting {k!r} must be a finite "
                             f"{'integer' if typ is int else 'number'}, got {v!r:.60}")
        p[k] = typ(v)
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
    if not path.is_file():
        raise SweepError(f"{path}: the sweep file is not a regular file (a directory?)")
    if path.suffix.lower() not in (".yaml", ".yml", ".toml"):
        raise SweepError(f"{path}: a sweep file must end in .yaml, .yml or .toml")
    if path.stat().st_size > 1_000_000:
        raise SweepError(f"{path}: a sweep file of {path.stat().st_size} bytes is over the "
                         f"1 MB limit")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            import tomllib

            spec = tomllib.loads(text)
        else:
            import yaml

            spec = yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise SweepError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError, tomllib.TOMLDecodeError
        first = str(e).strip().splitlines()
        raise SweepError(f"{path}: syntax error: {' '.join(x.strip() for x in first)}") from e
    if not isinstance(spec, dict):
        raise SweepError(f"{path}: a sweep file must hold a mapping of fields, got "
                         f"{type(spec).__name__}")
    return spec
