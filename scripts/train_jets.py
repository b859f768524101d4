"""Train the jet-mlp (16-64-32-32-5) on your hls4ml LHC jet file, then compare ANN and SNN.

    python scripts/train_jets.py PATH            # PATH: .arff/.csv(.gz) or fetch_openml cache
    SPIKESCOPE_JETS=PATH python scripts/train_jets.py
    python scripts/train_jets.py PATH --skip-training   # only the ANN-vs-SNN comparison

Writes jet-mlp.safetensors and jet-mlp.json next to the data (see data/README.md for where to
get the file: OpenML data set 42468 "hls4ml_lhc_jets_hlf"). Ctrl-C stops training early and
keeps the best weights so far.
"""

import argparse
import sys

import numpy as np
import torch

from spikescope import jets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", default=None,
                    help=f"jet data file or folder (default: ${jets.ENV_VAR})")
    ap.add_argument("--epochs", type=int, default=200, help="maximum epochs")
    ap.add_argument("--patience", type=int, default=10,
                    help="early stopping: epochs without a lower validation loss")
    ap.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (seed: 1e-4)")
    ap.add_argument("--batch-size", type=int, default=1024, help="minibatch size (seed: 1024)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=None, help="where to save (default: beside the data)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--skip-training", action="store_true", help="use the saved jet-mlp")
    ap.add_argument("--timesteps", type=int, default=100, help="SNN time steps")
    ap.add_argument("--percentile", type=float, default=99.9, help="normalization percentile")
    ap.add_argument("--n-test", type=int, default=10000, help="test jets for the SNN run")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        data = jets.load_jets(args.path)
    except (FileNotFoundError, jets.JetsSchemaError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{data.source}: {len(data.y_train)} train, {len(data.y_val)} val, "
          f"{len(data.y_test)} test jets")
    if not args.skip_training:
        meta = jets.train_jet_mlp(args.path, epochs=args.epochs, patience=args.patience,
                                  lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                                  out_dir=args.out_dir)
        print(f"saved {meta['weights']} ({meta['stopped']} after {meta['epochs_run']} epochs, "
              f"best epoch {meta['best_epoch']}): test accuracy {meta['test_accuracy']:.4f}")
    model = jets.load_jet_mlp(args.out_dir or args.path)
    x, y = data.x_test[:args.n_test], data.y_test[:args.n_test]
    comp = jets.compare(model, x, y, calibration=data.x_train[:20000],
                        timesteps=args.timesteps, percentile=args.percentile, progress=True)
    np.set_printoptions(precision=2, suppress=True)
    print("ANN confusion (rows = true g q w z t, row-normalized):")
    print(jets.row_normalize(comp.cm_ann))
    print(f"SNN confusion after {args.timesteps} steps:")
    print(jets.row_normalize(comp.cm_snn()))
    print(comp.words())
    return 0


if __name__ == "__main__":
    sys.exit(main())
