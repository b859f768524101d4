"""Parameter sweeps: a grid of conversion/simulation settings run as tasks on dask.distributed.

A sweep (:class:`Sweep`, declared in code or in a YAML/TOML file; :mod:`.spec`) names a model,
a data set, the calibration and evaluation subset sizes, a seed and a grid, e.g. normalization
percentile x T x code x reset x model. Every grid point (:mod:`.point`) converts the ANN, runs
the SNN on the evaluation subset and records accuracy over t, synaptic operations, spikes, and
energy, delay and EDP per platform. :func:`run` (:mod:`.execute`) runs the points serially, on a
``LocalCluster`` or on an existing scheduler; each finished point is saved at once as a Parquet
part file with its provenance (:mod:`.store`), so a rerun skips it. :mod:`.analysis` reads the
results.

Example::

    from spikescope import sweep
    s = sweep.Sweep(model="digits-mlp", grid={"percentile": [99, 100], "timesteps": [20, 50]})
    df = sweep.run(s, "mlp.parquet", workers=2)
"""

from ..neurons import RESETS
from .analysis import metric_columns, pareto_front
from .execute import SCHEDULER_ENV, SweepError, connect, run
from .point import ENCODING_KEYS, curve_steps, energy_platforms, run_point, select_data
from .spec import ALIASES, DEFAULTS, RUN_KEYS, Sweep, point_id, read_spec
from .store import (
    PROVENANCE_COLUMNS,
    finished_ids,
    git_commit,
    load_results,
    provenance,
    save_row,
)

__all__ = [
    "ALIASES", "DEFAULTS", "ENCODING_KEYS", "PROVENANCE_COLUMNS", "RESETS", "RUN_KEYS",
    "SCHEDULER_ENV", "Sweep", "SweepError", "connect", "curve_steps", "energy_platforms",
    "finished_ids", "git_commit", "load_results", "metric_columns", "pareto_front",
    "point_id", "provenance", "read_spec", "run", "run_point", "save_row", "select_data",
]
