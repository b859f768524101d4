"""Learning rules behind one interface, a trainer that takes any rule, gradient comparison.

A rule's ``update(model, batch)`` returns, per parameter name, either a gradient
(``kind = "gradient"``: the trainer's optimizer applies it) or a weight change
(``kind = "delta"``: added as is). Rules (Zhao et al. 2021, "Neko"):

- :class:`BPTT`: backpropagation through time with surrogate gradients (the reference).
- :class:`EProp`: e-prop (Bellec et al. 2020), symmetric / random / adaptive feedback. The
  eligibility traces are derived from the cell's own dynamics by automatic differentiation:
  eps_{t+1} = (dh_{t+1}/dh_t) eps_t + (dh_{t+1}/dI) pre_t,   e_t = (dz_t/dh_t) eps_t,
  so LIF and ALIF (any cell with ``step``/``spikes``) need no hand-derived formulas.
- :class:`Manhattan`: delta w = -step * sign(gradient) (Zamanidoost et al. 2015), optionally
  with weights held in a bounded conductance range [-g_max, g_max].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import metrics
from .recurrent import RecurrentSNN

Batch = tuple[torch.Tensor, torch.Tensor]


class Rule:
    """Base class: ``update(model, batch) -> {parameter name: gradient or weight change}``."""

    kind = "gradient"
    name = "rule"

    def update(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def constrain(self, model: nn.Module) -> None:
        """Project the weights back into their allowed range after an update (default: none)."""


class BPTT(Rule):
    """Exact gradient of the cross-entropy through time (surrogate spike derivatives)."""

    name = "bptt"

    def __init__(self, loss: Callable = F.cross_entropy) -> None:
        self.loss = loss

    def update(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch
        params = dict(model.named_parameters())
        with torch.enable_grad():
            loss = self.loss(model(x), y)
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        return {n: (g if g is not None else torch.zeros_like(p))
                for (n, p), g in zip(params.items(), grads)}


class EProp(Rule):
    """e-prop for :class:`RecurrentSNN` with loss = CE(mean_t y_t).

    feedback: "symmetric" (B = W_out^T), "random" (fixed Gaussian B) or "adaptive" (B starts
    random and follows the updates of W_out, with weight decay ``decay``).
    """

    kind = "gradient"

    def __init__(self, feedback: str = "symmetric", *, seed: int = 0, lr_feedback: float = 1e-3,
                 decay: float = 1e-4) -> None:
        if feedback not in ("symmetric", "random", "adaptive"):
            raise ValueError(f"feedback must be symmetric, random or adaptive, got {feedback!r}")
        self.feedback, self.seed = feedback, seed
        self.lr_feedback, self.decay = lr_feedback, decay
        self.name = f"e-prop ({feedback})"
        self.B: torch.Tensor | None = None

    def _feedback(self, model: RecurrentSNN) -> torch.Tensor:
        if self.feedback == "symmetric":
            return model.w_out.detach()
        if self.B is None:
            gen = torch.Generator().manual_seed(self.seed)
            self.B = torch.randn(model.w_out.shape, generator=gen) * model.w_out.detach().std()
        return self.B

    def update(self, model: RecurrentSNN, batch: Batch) -> dict[str, torch.Tensor]:
        if not isinstance(model, RecurrentSNN):
            raise TypeError("EProp trains a RecurrentSNN (input -> recurrent (A)LIF -> readout)")
        x, y = batch
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        B, T, _ = x.shape
        cell, kappa = model.cell, model.kappa
        weights = model.hidden_weights()
        S = len(cell.state_names)
        h = cell.init_state(B, x.device)
        z = torch.zeros(B, cell.n, device=x.device)
        eps = {k: torch.zeros(S, B, cell.n, w.shape[1]) for k, w in weights.items()}
        acc = {k: torch.zeros(B, cell.n, w.shape[1]) for k, w in weights.items()}
        zs = []
        for t in range(T):
            pre = {"w_in": x[:, t], "w_rec": z}
            with torch.enable_grad():
                hr = h.detach().requires_grad_(True)
                cur = model.current(x[:, t], z).detach().requires_grad_(True)
                h_new = cell.step(hr, cur)
                rows = [torch.autograd.grad(h_new[m].sum(), (hr, cur), retain_graph=m < S - 1)
                        for m in range(S)]
                hn = h_new.detach().requires_grad_(True)
                z_new = cell.spikes(hn)
                (dz_dh,) = torch.autograd.grad(z_new.sum(), hn)
            # g_t = sum_{t' >= t} kappa^(t'-t): how much z_t counts in mean_t y_t (exact)
            g_t = (1 - kappa ** (T - t)) / (1 - kappa)
            for k in weights:
                new = [sum(rows[m][0][j].unsqueeze(-1) * eps[k][j] for j in range(S))
                       + rows[m][1].unsqueeze(-1) * pre[k].unsqueeze(1) for m in range(S)]
                eps[k] = torch.stack(new)
                e = sum(dz_dh[m].unsqueeze(-1) * eps[k][m] for m in range(S))
                acc[k] += g_t * e
            h, z = h_new.detach(), z_new.detach()
            zs.append(z)
        # readout: exact gradient with the hidden spikes fixed
        with torch.enable_grad():
            yr = torch.zeros(B, model.w_out.shape[0])
            outs = []
            for zt in zs:
                yr = kappa * yr + zt @ model.w_out.t() + model.b_out
                outs.append(yr)
            out = torch.stack(outs).mean(0)
            loss = F.cross_entropy(out, y)
            g_out, g_b = torch.autograd.grad(loss, (model.w_out, model.b_out))
        delta = (F.softmax(out.detach(), 1) - F.one_hot(y, out.shape[1]).float()) / (B * T)
        learning = delta @ self._feedback(model)  # (B, n): L_j = sum_k B_kj delta_k
        grads = {k: torch.einsum("bj,bji->ji", learning, acc[k]) for k in weights}
        if "w_rec" in grads:
            grads["w_rec"].fill_diagonal_(0)
        grads.update({"w_out": g_out, "b_out": g_b})
        if self.feedback == "adaptive":
            self.B = self.B - self.lr_feedback * g_out - self.decay * self.B
        return grads


class Manhattan(Rule):
    """Manhattan rule: delta w = -step * sign(dL/dw); with ``g_max``, weights are kept in
    the conductance range [-g_max, g_max] (memristor-style bounded training)."""

    kind = "delta"

    def __init__(self, step: float = 1e-3, *, g_max: float | None = None,
                 gradient: Rule | None = None) -> None:
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        self.step, self.g_max = step, g_max
        self.gradient = gradient or BPTT()
        self.name = "manhattan" + (f" (|w| <= {g_max})" if g_max else "")

    def update(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        return {n: -self.step * torch.sign(g)
                for n, g in self.gradient.update(model, batch).items()}

    def constrain(self, model: nn.Module) -> None:
        if self.g_max is not None:
            with torch.no_grad():
                for p in model.parameters():
                    p.clamp_(-self.g_max, self.g_max)


def compare_gradients(grads: dict[str, torch.Tensor],
                      reference: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Per parameter: cosine similarity, relative deviation |g - r| / |r| and bias
    (mean(g) - mean(r)) / rms(r) of a rule's gradient ``g`` against the reference ``r``."""
    out = {}
    for name, r in reference.items():
        g = grads[name].reshape(-1).double()
        r = r.reshape(-1).double()
        rn = r.norm()
        out[name] = {
            "cosine": float(g @ r / (g.norm() * rn)) if g.norm() > 0 and rn > 0 else 0.0,
            "rel_deviation": float((g - r).norm() / rn) if rn > 0 else math.inf,
            "bias": float((g.mean() - r.mean()) / r.pow(2).mean().sqrt()) if rn > 0 else 0.0,
        }
    return out


class Trainer:
    """Train ``model`` with any :class:`Rule`; optionally compare each batch's update with a
    reference rule (e.g. BPTT) on the same model state and batch."""

    def __init__(self, model: nn.Module, rule: Rule, *, lr: float = 1e-3) -> None:
        self.model, self.rule = model, rule
        self.opt = torch.optim.Adam(model.parameters(), lr=lr) if rule.kind == "gradient" \
            else None
        self.history: list[dict] = []

    def train_step(self, batch: Batch, compare_to: Rule | None = None) -> dict:
        params = dict(self.model.named_parameters())
        update = self.rule.update(self.model, batch)
        row: dict = {}
        if compare_to is not None:
            ref = compare_to.update(self.model, batch)
            for p, m in compare_gradients(update, ref).items():
                row.update({f"{p}/{k}": v for k, v in m.items()})
        if self.rule.kind == "gradient":
            self.opt.zero_grad()
            for n, g in update.items():
                params[n].grad = g.clone()
            self.opt.step()
        else:
            with torch.no_grad():
                for n, d in update.items():
                    params[n].add_(d)
        self.rule.constrain(self.model)
        return row

    def fit(self, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 1, batch_size: int = 64,
            seed: int = 0, compare_to: Rule | None = None, max_batches: int | None = None,
            progress: bool = True) -> list[dict]:
        """Train for ``epochs`` (or ``max_batches``); returns the per-batch history (loss and
        the gradient comparison). Interrupting (Ctrl-C) keeps the weights reached so far."""
        gen = torch.Generator().manual_seed(seed)
        n_batches = math.ceil(len(x) / batch_size) * epochs
        if max_batches is not None:
            n_batches = min(n_batches, max_batches)
        bar = tqdm(total=n_batches, desc=f"training ({self.rule.name})", disable=not progress)
        step = 0
        try:
            while step < n_batches:
                for idx in torch.randperm(len(x), generator=gen).split(batch_size):
                    if step >= n_batches:
                        break
                    row = self.train_step((x[idx], y[idx]), compare_to)
                    with torch.no_grad():
                        row["loss"] = float(F.cross_entropy(self.model(x[idx]), y[idx]))
                    row["batch"] = step
                    self.history.append(row)
                    step += 1
                    bar.update()
                    bar.set_postfix(loss=row["loss"])
        except KeyboardInterrupt:
            pass
        finally:
            bar.close()
        return self.history


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples classified correctly (the model is called as it is)."""
    return metrics.accuracy(model(x), y)


def mean_history(history: list[dict], key: str, last: int | None = None) -> float:
    """Mean of ``key`` over the history (or its ``last`` rows)."""
    rows = history[-last:] if last else history
    return float(np.mean([r[key] for r in rows if key in r]))
