"""Train the built-in models and write data/models/NAME.{safetensors,json}.

    python scripts/train_zoo.py               # all models
    python scripts/train_zoo.py digits-resnet # one model

Seeded and on 2 threads, so a rerun writes the same weights. Classifiers store their test
accuracy, reconstruction models (digits-autoencoder) their test MSE and SSIM.
"""

import argparse

import torch

from spikescope import zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", default=list(zoo.ARCHITECTURES))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for name in args.names:
        meta = zoo.train_ann(name, epochs=args.epochs, seed=args.seed)
        if "test_accuracy" in meta:
            print(f"{name}: test accuracy {meta['test_accuracy']:.4f}")
        else:
            print(f"{name}: test MSE {meta['test_mse']:.5f}, SSIM {meta['test_ssim']:.4f}")


if __name__ == "__main__":
    main()
