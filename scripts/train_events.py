"""Train the directly trained SNNs of the zoo on "digits-events" (surrogate-gradient BPTT).

- events-classifier: conv SNN, events (T=20, 2, 34, 34) -> 10 output neurons; spike-count
  cross-entropy; reports test accuracy (PyTorch model and the core SpikingNetwork).
- events-reconstructor: fully convolutional SNN, events -> (1, 34, 34) output neurons whose
  spike counts are the still image (count = intensity * RATE_MAX * T); per-pixel spike-count
  MSE; reports MSE and SSIM on the test split and on scikit-learn's sample photos converted
  with the emulator (out of domain, as the seed did with Caltech-101).

Writes data/models/NAME.safetensors + NAME.json. Usage:
    python scripts/train_events.py [classifier|reconstructor ...] [--epochs N] [--threads N]
The machine's cores are shared: the default of 1 thread is much faster than 2 when the cores
are busy (oversubscribed oneDNN convolutions).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikescope import datasets, dvs, train, zoo

ROOT = Path(__file__).resolve().parents[1]
T = 20
RATE_MAX = 0.5  # output spikes per step for intensity 1 (10 spikes over T = 20 steps)


def classifier() -> train.SNN:
    """conv12 (5x5, stride 2) - conv32 (3x3, stride 2) - fc10 LIF network, 34x34x2 input."""
    return train.SNN([nn.Conv2d(2, 12, 5, stride=2, padding=2),
                      nn.Conv2d(12, 32, 3, stride=2, padding=1),
                      nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 9 * 9, 10)],
                     (2, 34, 34), leak=0.9, surrogate="fast_sigmoid", width=0.5)


def reconstructor() -> train.SNN:
    """Three 5x5 conv LIF layers (8, 8, 1 channels), 34x34 in and out."""
    return train.SNN([nn.Conv2d(2, 8, 5, padding=2), nn.Conv2d(8, 8, 5, padding=2),
                      nn.Conv2d(8, 1, 5, padding=2)],
                     (2, 34, 34), leak=0.9, surrogate="erf", width=0.5)


def core_accuracy(model: train.SNN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Test accuracy of the model run through the core SpikingNetwork (run(), events)."""
    net = train.to_spiking_network(model)
    correct = 0
    for i in range(0, len(x), 120):
        rec = net.run(dvs.to_time_major(x[i:i + 120]), T, encoding="events",
                      record=())
        correct += int((rec.predictions() == y[i:i + 120]).sum())
    return correct / len(x)


def train_classifier(epochs: int, seed: int = 0, max_batches: int | None = None) -> dict:
    xtr, ytr = datasets.load("digits-events", "train")
    xte, yte = datasets.load("digits-events", "test")
    torch.manual_seed(seed)
    model = classifier()
    hist = train.fit(model, xtr, ytr, loss_fn=train.spike_count_cross_entropy, epochs=epochs,
                     batch_size=32, lr=3e-3, seed=seed, max_batches=max_batches)
    acc = float((train.predict(model, xte).argmax(1) == yte).float().mean())
    meta = {"name": "events-classifier", "kind": "snn", "dataset": "digits-events",
            "task": "classification", "test_accuracy": acc,
            "test_accuracy_core": core_accuracy(model, xte, yte),
            "train_accuracy": float((train.predict(model, xtr).argmax(1) == ytr)
                                    .float().mean()),
            "timesteps": T, "input": {"shape": [2, 34, 34], "layout": "time-major (T, B, 2, "
                                      "34, 34) event counts, channel 0 OFF / 1 ON"},
            "output": {"kind": "classes", "n_classes": 10, "readout": "spike count"},
            "loss": "spike-count cross-entropy", "epochs": epochs, "seed": seed,
            "batch_size": 32, "lr": 3e-3, "history_loss": hist["loss"],
            "epoch_seconds": hist["epoch_seconds"], "interrupted": hist["interrupted"],
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    train.save(model, zoo.MODEL_DIR / "events-classifier", meta)
    return meta


def ssim_np(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(train.ssim(a, b).mean())


def sample_photos() -> tuple[torch.Tensor, list[str]]:
    """scikit-learn's sample photos as 28x28 grey images centred on 34x34, in [0, 1]."""
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    out = []
    for img in data.images:
        g = torch.from_numpy(img.astype(np.float32).mean(2) / 255.0)
        h, w = g.shape
        s = min(h, w)
        g = g[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        g = F.interpolate(g[None, None], size=(28, 28), mode="area")[0, 0]
        out.append(F.pad(g, (3, 3, 3, 3)))
    return torch.stack(out)[:, None], [Path(f).name for f in data.filenames]


def emulate_like_dataset(images: torch.Tensor) -> torch.Tensor:
    """Emulate + bin with the generator parameters of digits-events: (N, T, 2, 34, 34)."""
    params = json.loads((datasets.DIGITS_EVENTS_DIR / "params.json").read_text())
    em = params["emulator"]
    frames = [dvs.bin_events(dvs.emulate(im[0].numpy(), seed=i, **em), params["bins"],
                             t_start_us=0, duration_us=em["duration_ms"] * 1000 + 1)
              for i, im in enumerate(images)]
    return torch.from_numpy(np.stack(frames))


def train_reconstructor(epochs: int, seed: int = 0, max_batches: int | None = None) -> dict:
    xtr, itr = datasets.load("digits-events", "train", target="image")
    xte, ite = datasets.load("digits-events", "test", target="image")
    torch.manual_seed(seed)
    model = reconstructor()
    scale = RATE_MAX * T
    hist = train.fit(model, xtr, itr * scale, loss_fn=train.spike_count_mse, epochs=epochs,
                     batch_size=32, lr=3e-3, seed=seed, max_batches=max_batches)

    def recon(x):
        return (train.predict(model, x) / scale).clamp(0, 1)

    rte = recon(xte)
    photos, names = sample_photos()
    rph = recon(emulate_like_dataset(photos))
    meta = {"name": "events-reconstructor", "kind": "snn", "dataset": "digits-events",
            "task": "reconstruction",
            "test_mse": float(F.mse_loss(rte, ite)), "test_ssim": ssim_np(rte, ite),
            "baseline_mse_black_image": float((ite ** 2).mean()),
            "out_of_domain": {n: {"mse": float(F.mse_loss(r, p)), "ssim": ssim_np(r[None], p[None])}
                              for n, r, p in zip(names, rph, photos, strict=True)},
            "timesteps": T,
            "input": {"shape": [2, 34, 34], "layout": "time-major (T, B, 2, 34, 34) event "
                      "counts, channel 0 OFF / 1 ON"},
            "output": {"kind": "image", "shape": [1, 34, 34],
                       "intensity": "output spike count / counts_per_unit, clipped to [0, 1]",
                       "counts_per_unit": scale},
            "loss": "per-pixel spike-count MSE (target = image * counts_per_unit)",
            "epochs": epochs, "seed": seed, "batch_size": 32, "lr": 3e-3,
            "history_loss": hist["loss"], "epoch_seconds": hist["epoch_seconds"],
            "interrupted": hist["interrupted"], "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    train.save(model, zoo.MODEL_DIR / "events-reconstructor", meta)
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", nargs="*", default=["classifier", "reconstructor"],
                    choices=["classifier", "reconstructor"])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=None, help="smoke test: batches/epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for w in args.which:
        t0 = time.perf_counter()
        if w == "classifier":
            meta = train_classifier(args.epochs or 12, max_batches=args.max_batches)
            keys = ("test_accuracy", "test_accuracy_core", "train_accuracy", "epoch_seconds")
        else:
            meta = train_reconstructor(args.epochs or 5, max_batches=args.max_batches)
            keys = ("test_mse", "test_ssim", "baseline_mse_black_image", "out_of_domain",
                    "epoch_seconds")
        print(w, json.dumps({k: meta[k] for k in keys}),
              f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
