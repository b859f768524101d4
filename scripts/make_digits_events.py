"""Build the "digits-events" data set: scikit-learn digits as emulated N-MNIST recordings.

Each 8x8 digit is upscaled to 28x28 (bilinear, as "digits28"), centred on a 34x34 sensor (the
N-MNIST geometry: 28x28 MNIST digits on a 34x34 ATIS), moved in three saccades over 300 ms and
turned into events by :func:`spikescope.data.dvs.emulate`; the events are binned into T frames of
equal duration (2 polarity channels) and stored as uint8 counts, with the still 34x34 images
(reconstruction targets) and labels, using the fixed train/test split of "digits".

Writes data/digits-events/digits-events.npz and params.json (generator parameters, sizes).
Usage: python scripts/make_digits_events.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from spikescope import datasets, dvs

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {
    "source": "sklearn.datasets.load_digits, upscaled 8x8 -> 28x28 (bilinear), zero-padded "
              "to 34x34",
    "split": "as the 'digits' data set: stratified, 360 test images, random_state=0",
    "emulator": {"duration_ms": 300.0, "saccades": 3, "amplitude_px": 3.0, "dt_us": 1000.0,
                 "threshold": 0.25, "refractory_us": 1000.0, "eps": 0.1,
                 "noise_rate_hz": 0.5, "background": 0.0},
    "bins": 20,
    "bin_mode": "time",
    "bin_window_us": "[0, 300000] inclusive, 20 equal bins",
    "sensor_size": [34, 34],
    "frame_layout": "(N, T, 2, H, W) uint8 event counts; channel 0 = OFF, 1 = ON",
}


def build(out: Path, params: dict = PARAMS, *, progress: bool = True) -> dict:
    """Emulate and bin every digit; write the npz and params.json; return the stored info."""
    em = params["emulator"]
    arrays = {}
    info = dict(params)
    n_events = []
    t0 = time.perf_counter()
    for split in ("train", "test"):
        x, y = datasets.load("digits28", split)
        images = np.pad(x[:, 0].numpy(), ((0, 0), (3, 3), (3, 3)))
        frames = np.zeros((len(images), params["bins"], 2, 34, 34), np.uint8)
        for i in tqdm(range(len(images)), desc=f"emulating {split}", disable=not progress):
            ev = dvs.emulate(images[i], seed=i + (0 if split == "train" else 10**6), **em)
            n_events.append(len(ev))
            f = dvs.bin_events(ev, params["bins"], mode=params["bin_mode"], t_start_us=0,
                               duration_us=em["duration_ms"] * 1000 + 1, dtype=np.int64)
            if f.max() > 255:
                raise OverflowError("more than 255 events in one bin: use more bins")
            frames[i] = f
        arrays[f"{split}_frames"] = frames
        arrays[f"{split}_images"] = np.round(images * 255).astype(np.uint8)
        arrays[f"{split}_labels"] = y.numpy().astype(np.int64)
        info[f"n_{split}"] = len(images)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "digits-events.npz", **arrays)
    info["events_per_sample_mean"] = float(np.mean(n_events))
    info["build_seconds"] = round(time.perf_counter() - t0, 1)
    info["npz_bytes"] = (out / "digits-events.npz").stat().st_size
    (out / "params.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "digits-events")
    args = ap.parse_args()
    info = build(args.out)
    print(json.dumps({k: info[k] for k in ("n_train", "n_test", "events_per_sample_mean",
                                           "npz_bytes", "build_seconds")}))


if __name__ == "__main__":
    main()
