"""Train the ResNet-style and Inception-style test networks of tests/graph_models.py on the
digits upscaled to 3x32x32 and write tests/data/graph-{resnet,inception}.{safetensors,json}.

    python scripts/train_graph_examples.py             # train and write the weights
    python scripts/train_graph_examples.py --evaluate  # ANN vs SNN on all 360 test images

These are the "networks written the way researchers write them" that tests/test_graphs.py
converts (issue 17); the test loads the weights and never retrains. Seeded, 2 threads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikescope import datasets, metrics  # noqa: E402
from spikescope.io.weights import save_weights  # noqa: E402
from tests import graph_models as G  # noqa: E402

OUT = ROOT / "tests" / "data"
MODELS = {"graph-resnet": G.ResNet, "graph-inception": G.Inception}


def digits32(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits upscaled (bilinear) to 32x32, repeated to 3 channels."""
    x, y = datasets.load("digits", split)
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    return x.expand(-1, 3, -1, -1).contiguous(), y


def train(name: str, epochs: int = 12, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = MODELS[name]()
    xtr, ytr = digits32("train")
    xte, yte = digits32("test")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-2, total_steps=epochs * 45)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            sched.step()
    model.eval()
    meta = {"architecture": name, "input_shape": [3, 32, 32], "epochs": epochs, "seed": seed,
            "test_accuracy": metrics.model_accuracy(model, xte, yte)}
    save_weights(OUT / name, model.state_dict(), meta)
    return meta


def evaluate(name: str, timesteps: int = 300) -> None:
    """Print the ANN's and the SNN's accuracy (T = 100, 200, 300) on all test images and the
    per-node ANN-vs-SNN rate correlation (rate code, analog input, percentile 99.9)."""
    import spikescope as ss
    from spikescope.io.weights import load_weights

    model = MODELS[name]()
    model.load_state_dict(load_weights(OUT / name))
    model.eval()
    xtr, _ = digits32("train")
    xte, yte = digits32("test")
    net = ss.convert(model, xtr[:300])
    rec = net.run(xte, timesteps, record=("spikes",))
    curve = rec.accuracy_curve(yte)
    corr = metrics.activation_correlation(net, model, xte, rec)
    print(f"{name}: ANN {metrics.model_accuracy(model, xte, yte):.4f}; SNN T=100 "
          f"{curve[99]:.4f}, T=200 {curve[199]:.4f}, T={timesteps} {curve[-1]:.4f}; rate "
          f"correlation per node {[round(c, 4) for c in corr]}")


def main() -> None:
    torch.set_num_threads(2)
    for name in MODELS:
        if "--evaluate" in sys.argv:
            evaluate(name)
        else:
            print(name, train(name))


if __name__ == "__main__":
    main()
