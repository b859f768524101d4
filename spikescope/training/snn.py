"""Direct training of spiking networks: BPTT through LIF layers with surrogate gradients.

The forward pass is the core's neuron model (:class:`spikescope.neurons.IF`/``LIF``, eq. 2.4,
its ``surrogate_step``) with zero-delay propagation, step by step:

    V_l(t) = leak_l * V_l(t-1) + W_l pre(s_{l-1}(t)) + b_l
    s_l(t) = H(V_l(t) - threshold);   V_l(t) <- V_l(t) - s_l(t) * threshold   (or <- 0)

Surrogate spike functions: :mod:`spikescope.neurons.surrogate`.

A model is an ``nn.Sequential`` of Conv2d/Linear (each followed by a population of
LIF neurons), AvgPool2d, Flatten and Dropout; :func:`to_spiking_network` turns a trained
:class:`SNN` into a core :class:`~spikescope.SpikingNetwork` (lambdas all 1), so it runs through
the same ``run()/step()`` API and :class:`~spikescope.Recording` as converted networks.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..convert.parse import parse
from ..io.weights import load_meta, load_weights, save_weights, weight_paths
from ..neurons import NeuronParams, neuron_model
from ..neurons.surrogate import SURROGATES, spike
from ..sim.network import SpikingNetwork

_LAYER_TYPES = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.Flatten, nn.Dropout)


# ----------------------------------------------------------------------------- model
def _layer_spec(m: nn.Module) -> dict:
    if isinstance(m, nn.Conv2d):
        return {"type": "Conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": list(m.kernel_size), "stride": list(m.stride),
                "padding": list(m.padding) if not isinstance(m.padding, str) else m.padding,
                "bias": m.bias is not None}
    if isinstance(m, nn.Linear):
        return {"type": "Linear", "in_features": m.in_features,
                "out_features": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.AvgPool2d):
        return {"type": "AvgPool2d", "kernel_size": m.kernel_size, "stride": m.stride}
    if isinstance(m, nn.Flatten):
        return {"type": "Flatten"}
    if isinstance(m, nn.Dropout):
        return {"type": "Dropout", "p": m.p}
    raise ValueError(f"unsupported layer {type(m).__name__}; an SNN is made of "
                     f"{', '.join(t.__name__ for t in _LAYER_TYPES)}")


def _layer_from_spec(spec: dict) -> nn.Module:
    spec = dict(spec)
    kind = spec.pop("type")
    return {"Conv2d": nn.Conv2d, "Linear": nn.Linear, "AvgPool2d": nn.AvgPool2d,
            "Flatten": nn.Flatten, "Dropout": nn.Dropout}[kind](**spec)


class SNN(nn.Module):
    """A feed-forward spiking network trained with BPTT and surrogate gradients.

    layers: nn.Sequential (or list) of Conv2d/Linear/AvgPool2d/Flatten/Dropout; every
        Conv2d/Linear feeds a population of LIF neurons (the core's eq. 2.4).
    input_shape: shape of one input frame, e.g. (2, 34, 34).
    threshold: firing threshold; leak: initial leak per step in (0, 1] (1 = IF).
    learn_leak: learn one leak per layer (kept in (0, 1) through a sigmoid).
    reset: "subtract" or "zero"; surrogate: "fast_sigmoid", "arctan" or "erf"; width: its w.
    detach_reset: do not backpropagate through the reset (common practice, more stable).
    """

    def __init__(self, layers: Sequence[nn.Module], input_shape: Sequence[int], *,
                 threshold: float = 1.0, leak: float = 0.9, learn_leak: bool = False,
                 reset: str = "subtract", surrogate: str = "fast_sigmoid", width: float = 0.5,
                 detach_reset: bool = True) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        for m in self.layers:
            _layer_spec(m)  # validates the layer types
        self.synapse_idx = [i for i, m in enumerate(self.layers)
                            if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not self.synapse_idx or self.synapse_idx[-1] != len(self.layers) - 1:
            raise ValueError("an SNN must end with a Conv2d or Linear layer")
        self.neuron = neuron_model(None, NeuronParams(threshold=threshold, leak=leak,
                                                      reset=reset))  # validates the values
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.threshold, self.reset_mode = float(threshold), reset
        self.surrogate, self.width = surrogate, float(width)
        self.detach_reset, self.learn_leak = detach_reset, learn_leak
        n = len(self.synapse_idx)
        raw = torch.full((n,), math.log(leak / (1 - leak)) if leak < 1 else 20.0)
        if learn_leak:
            self.leak_logit = nn.Parameter(raw)
        else:
            self.register_buffer("leak_logit", raw)
        self._leak0 = float(leak)

    @property
    def leaks(self) -> torch.Tensor:
        """Leak per spiking layer, (L,)."""
        if not self.learn_leak:
            return torch.full_like(self.leak_logit, self._leak0)
        return torch.sigmoid(self.leak_logit)

    def config(self) -> dict:
        """JSON-able description: rebuild with :meth:`from_config` (weights apart)."""
        return {"layers": [_layer_spec(m) for m in self.layers],
                "input_shape": list(self.input_shape), "threshold": self.threshold,
                "leak": self._leak0, "learn_leak": self.learn_leak, "reset": self.reset_mode,
                "surrogate": self.surrogate, "width": self.width,
                "detach_reset": self.detach_reset}

    @classmethod
    def from_config(cls, cfg: dict) -> SNN:
        cfg = dict(cfg)
        layers = [_layer_from_spec(s) for s in cfg.pop("layers")]
        return cls(layers, cfg.pop("input_shape"), **cfg)

    def forward(self, x: torch.Tensor, *, return_all: bool = False):
        """Run on time-major input (T, B, *input_shape); returns output spikes (T, B, ...).

        With ``return_all`` returns the list of every spiking layer's spikes (T, B, ...).
        """
        if x.dim() != len(self.input_shape) + 2 or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"input has shape {tuple(x.shape)}; expected time-major "
                             f"(T, B, {', '.join(map(str, self.input_shape))})")
        leaks = self.leaks
        v: list[torch.Tensor | float] = [0.0] * len(self.synapse_idx)
        outs: list[list[torch.Tensor]] = [[] for _ in self.synapse_idx]
        neuron = self.neuron
        for t in range(x.shape[0]):
            h = x[t]
            li = 0
            for i, m in enumerate(self.layers):
                h = m(h)
                if i != self.synapse_idx[li]:
                    continue
                s, v[li] = neuron.surrogate_step(v[li], h, self._spike, leak=leaks[li],
                                                 detach_reset=self.detach_reset)
                outs[li].append(s)
                h = s
                li += 1
        stacked = [torch.stack(o) for o in outs]
        return stacked if return_all else stacked[-1]

    def _spike(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, self.surrogate, self.width)

    def count(self, x: torch.Tensor) -> torch.Tensor:
        """Output spike counts over the run, (B, ...)."""
        return self(x).sum(0)


# ----------------------------------------------------------------------------- losses
def spike_count_cross_entropy(out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of softmax(spike counts) against labels; out_spikes (T, B, C)."""
    return F.cross_entropy(out_spikes.sum(0).reshape(len(labels), -1), labels)


def spike_count_mse(out_spikes: torch.Tensor, target_counts: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of (spike count - target count)^2; out_spikes (T, B, ...)."""
    counts = out_spikes.sum(0)
    return F.mse_loss(counts.reshape(target_counts.shape), target_counts)


# ----------------------------------------------------------------------------- conversion
def to_spiking_network(model: SNN, *, dt_ms: float = 1.0) -> SpikingNetwork:
    """The trained ``model`` as a core SpikingNetwork: same weights, lambdas all 1.0, and
    NeuronParams with its threshold, leak and reset (one leak per layer if they differ)."""
    ann = []
    for i, m in enumerate(model.layers):
        ann.append(m)
        if i in model.synapse_idx[:-1]:
            ann.append(nn.ReLU())
    stages = parse(nn.Sequential(*ann).eval(), model.input_shape)
    leaks = ([model._leak0] * len(stages) if not model.learn_leak
             else [min(1.0, float(v)) for v in model.leaks.detach().cpu()])
    params = [NeuronParams(threshold=model.threshold, leak=lk, reset=model.reset_mode)
              for lk in leaks]
    kw = dict(input_shape=model.input_shape, readout="spikes", dt_ms=dt_ms)
    ones = [1.0] * len(stages)
    if len(set(leaks)) == 1:
        return SpikingNetwork(stages, ones, params[0], **kw)
    return SpikingNetwork(stages, ones, params[0], code="direct", layer_params=params, **kw)


# ----------------------------------------------------------------------------- checkpoints
def save(model: SNN, path: str | os.PathLike, meta: dict | None = None) -> None:
    """Write ``path``.safetensors (weights) and ``path``.json (config + ``meta``)."""
    save_weights(path, model.state_dict(), {**(meta or {}), "config": model.config()})


def load(path: str | os.PathLike) -> SNN:
    """Rebuild an :class:`SNN` saved by :func:`save` (safetensors, never pickle)."""
    config = load_meta(path).get("config")
    if config is None:
        raise FileNotFoundError(f"{weight_paths(path)[1]} not found or without a 'config' "
                                f"(written by spikescope.train.save)")
    model = SNN.from_config(config)
    model.load_state_dict(load_weights(path))
    return model.eval()


# ----------------------------------------------------------------------------- training loop
def _batches(n: int, batch_size: int, gen: torch.Generator | None):
    idx = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    return idx.split(batch_size)


@torch.no_grad()
def predict(model: SNN, x: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
    """Output spike counts (N, ...) for sample-major input x (N, T, ...)."""
    model.eval()
    out = [model.count(x[i:i + batch_size].transpose(0, 1))
           for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def fit(model: SNN, x: torch.Tensor, y: torch.Tensor, *,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = spike_count_cross_entropy,
        epochs: int = 10, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
        weight_decay: float = 0.0, max_batches: int | None = None,
        evaluate: Callable[[SNN], float] | None = None, higher_is_better: bool = True,
        checkpoint: str | os.PathLike | None = None, progress: bool = True) -> dict:
    """Train ``model`` with Adam + cosine schedule by BPTT on sample-major data x (N, T, ...).

    Seeded (shuffling and dropout). After each epoch ``evaluate(model)`` (if given) scores the
    model; the best weights are kept (and saved to ``checkpoint`` if given). Ctrl-C
    (KeyboardInterrupt) stops training cleanly: the best (or last) weights stay in the model
    and the history says ``interrupted``. Returns the history: loss per epoch, scores,
    seconds per epoch.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_steps = epochs * (min(max_batches, math.ceil(len(x) / batch_size)) if max_batches
                        else math.ceil(len(x) / batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, n_steps))
    hist: dict = {"loss": [], "batch_loss": [], "score": [], "epoch_seconds": [],
                  "interrupted": False}
    best, best_state = None, None
    bar = tqdm(total=n_steps, desc="training SNN", disable=not progress)
    try:
        for _ in range(epochs):
            model.train()
            t0, total, nb = time.perf_counter(), 0.0, 0
            for b, idx in enumerate(_batches(len(x), batch_size, gen)):
                if max_batches is not None and b >= max_batches:
                    break
                opt.zero_grad()
                loss = loss_fn(model(x[idx].transpose(0, 1)), y[idx])
                loss.backward()
                opt.step()
                sched.step()
                total, nb = total + loss.item(), nb + 1
                hist["batch_loss"].append(loss.item())
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.4f}")
            hist["epoch_seconds"].append(time.perf_counter() - t0)
            hist["loss"].append(total / max(nb, 1))
            if evaluate is not None:
                score = float(evaluate(model))
                hist["score"].append(score)
                if best is None or (score > best if higher_is_better else score < best):
                    best = score
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    if checkpoint is not None:
                        save(model, checkpoint, {"score": score})
                bar.set_postfix(loss=f"{hist['loss'][-1]:.4f}", score=f"{score:.4f}")
    except KeyboardInterrupt:
        hist["interrupted"] = True
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        hist["best_score"] = best
    elif checkpoint is not None:
        save(model, checkpoint, {})
    model.eval()
    return hist



# ----------------------------------------------------------------------------- image metrics
def ssim(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0, sigma: float = 1.5,
         size: int = 11) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image of (B, 1, H, W) batches, (B,).

    Gaussian window (``size``, ``sigma``), C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = data_range;
    zero padding at the borders (means over the valid window weights).
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two (B, C, H, W) tensors of equal shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    g = torch.exp(-0.5 * ((torch.arange(size, dtype=a.dtype) - size // 2) / sigma) ** 2)
    win = (g[:, None] * g[None]) / g.sum() ** 2
    win = win.expand(a.shape[1], 1, size, size).to(a.device)

    def blur(z):
        return F.conv2d(z, win, padding=size // 2, groups=a.shape[1])

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    norm = blur(torch.ones_like(a))
    mu_a, mu_b = blur(a) / norm, blur(b) / norm
    var_a = blur(a * a) / norm - mu_a ** 2
    var_b = blur(b * b) / norm - mu_b ** 2
    cov = blur(a * b) / norm - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1)
                                                      * (var_a + var_b + c2))
    return s.flatten(1).mean(1)
