"""Bayesian uncertainty for SNNs: Metropolis-adjusted Langevin sampling over the weights.

As in Neko (Zhao et al. 2021), the proposal uses the surrogate gradient (spikes are not
differentiable, but Metropolis-Hastings only needs *some* proposal whose density is known):

    theta' = theta + (eps^2 / 2) grad log p(theta | D) + eps * xi,     xi ~ N(0, I)
    accept with prob. min(1, p(theta'|D) q(theta|theta') / (p(theta|D) q(theta'|theta)))

log p(theta | D) = -N * mean cross-entropy - |theta|^2 / (2 sigma^2). The step size adapts
towards an acceptance rate of 0.57 during burn-in (Andrieu & Thoms 2008).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _assign(model: nn.Module, theta: torch.Tensor) -> None:
    i = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(theta[i:i + p.numel()].view_as(p))
            i += p.numel()


def _log_post(model, theta, x, y, prior_std):
    _assign(model, theta)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        params = list(model.parameters())
        lp = -loss - sum(p.pow(2).sum() for p in params) / (2 * prior_std ** 2)
        grads = torch.autograd.grad(lp, params)
    return float(lp.detach()), torch.cat([g.reshape(-1) for g in grads])


def mala(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_samples: int = 50,
         burn_in: int = 50, thin: int = 2, step_size: float = 1e-3, prior_std: float = 1.0,
         seed: int = 0, progress: bool = True) -> dict:
    """Sample weights of ``model`` given data (x, y). Returns samples (flat tensors), the
    acceptance rate after burn-in and the final step size. The model keeps its weights."""
    gen = torch.Generator().manual_seed(seed)
    start = _flat(model)
    theta = start.clone()
    lp, g = _log_post(model, theta, x, y, prior_std)
    eps = step_size
    samples, accepted, proposals = [], 0, 0
    total = burn_in + n_samples * thin
    for i in tqdm(range(total), desc="MALA", disable=not progress):
        noise = torch.randn(theta.shape, generator=gen)
        prop = theta + 0.5 * eps ** 2 * g + eps * noise
        lp_p, g_p = _log_post(model, prop, x, y, prior_std)
        fwd = -((prop - theta - 0.5 * eps ** 2 * g) ** 2).sum() / (2 * eps ** 2)
        bwd = -((theta - prop - 0.5 * eps ** 2 * g_p) ** 2).sum() / (2 * eps ** 2)
        log_a = lp_p - lp + float(bwd - fwd)
        ok = math.log(float(torch.rand((), generator=gen)) + 1e-300) < log_a
        if ok:
            theta, lp, g = prop, lp_p, g_p
        if i < burn_in:  # adapt the step towards acceptance 0.57
            eps *= math.exp(0.05 * ((1.0 if ok else 0.0) - 0.57))
        else:
            proposals += 1
            accepted += ok
            if (i - burn_in) % thin == 0:
                samples.append(theta.clone())
    _assign(model, start)
    return {"samples": samples, "acceptance": accepted / max(proposals, 1), "step_size": eps}


@torch.no_grad()
def predictive(model: nn.Module, samples: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Posterior predictive class probabilities (B, C): mean softmax over weight samples."""
    start = _flat(model)
    probs = 0
    for theta in samples:
        _assign(model, theta)
        probs = probs + F.softmax(model(x), 1)
    _assign(model, start)
    return probs / len(samples)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy (nats) per sample: the uncertainty."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(1)
