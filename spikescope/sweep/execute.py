"""Running a sweep (:func:`run`): serially in this process, on a new ``LocalCluster`` of
single-threaded workers, or on an existing dask scheduler; each finished point is saved at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .. import zoo
from .point import energy_platforms, run_point, select_data
from .spec import Sweep
from .store import finished_ids, load_results, provenance, save_row

SCHEDULER_ENV = "SPIKESCOPE_SCHEDULER"


from ..errors import SweepError as SweepError  # noqa: E402 - the hierarchy


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


def _run_point_task(point, model, data, seed, curve_points, platforms):
    """Dask task: ``model`` and ``data`` arrive as the worker's copies of scattered objects."""
    from distributed import get_worker

    row = run_point(point, model, data, seed, curve_points, platforms)
    row["worker"] = get_worker().address
    return row


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
