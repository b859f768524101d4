"""The ``spikescope`` command line: ``spikescope sweep FILE [--scheduler ADDR] [--workers N]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import SweepError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spikescope",
                                     description="spikescope: spiking neural network lab")
    sub = parser.add_subparsers(dest="command", required=True)
    sw = sub.add_parser("sweep", help="run a parameter sweep declared in a YAML/TOML file",
                        description="Run the unfinished points of a sweep on dask.distributed "
                                    "and save results to a Parquet folder (rerun to resume).")
    sw.add_argument("file", type=Path, help="sweep file (.yaml, .yml or .toml)")
    sw.add_argument("--scheduler", default=None,
                    help="address of a running dask scheduler (default: $SPIKESCOPE_SCHEDULER, "
                         "else a LocalCluster on this machine)")
    sw.add_argument("--workers", type=int, default=None,
                    help="worker processes of the LocalCluster (0 = run in this process)")
    sw.add_argument("--out", type=Path, default=None,
                    help="output folder (default: the file's `out`, else NAME.parquet)")
    sw.add_argument("--retries", type=int, default=2, help="dask retries per point")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--max-points", type=int, default=None,
                    help="largest grid accepted (default: the file's max_points, else 10000)")
    return parser


def _sweep(args: argparse.Namespace) -> int:
    from . import sweep

    spec = sweep.read_spec(args.file)
    out = args.out or spec.get("out")
    if args.max_points is not None:
        spec["max_points"] = args.max_points
    spec.setdefault("name", args.file.stem)
    try:
        s = sweep.Sweep.from_dict(spec)
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        raise SweepError(f"{args.file}: {e}") from e
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    df = sweep.run(s, out, scheduler=args.scheduler, workers=args.workers,
                   retries=args.retries, progress=not args.no_progress)
    out = Path(out) if out is not None else Path(f"{s.name}.parquet")
    best = df.loc[df["accuracy"].idxmax()] if len(df) else None
    print(f"{len(df)} points in {out}" + (
        f"; best accuracy {best['accuracy']:.4f} at "
        + ", ".join(f"{k}={best[k]}" for k in s.varied) if best is not None else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spikescope`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "sweep":
            return _sweep(args)
    except KeyboardInterrupt:
        print("interrupted; finished points are saved (rerun to resume)", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, TypeError) as e:
        msg = " ".join(str(e).split())  # one line
        print(f"spikescope {args.command}: error: {msg}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
