"""The clamped ReLU of "TTFS clamped" (thesis eq. 2.29) and fine-tuning an ANN with it."""

from __future__ import annotations

import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from .loop import train_epoch


class ClampedReLU(nn.Module):
    """ReLU_clamp(x) = x if x > beta else 0 (eq. 2.29)."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (x > self.beta).to(x.dtype)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


def _swap_relus(module: nn.Module, make) -> int:
    n = 0
    for name, child in module.named_children():
        if isinstance(child, (nn.ReLU, ClampedReLU)):
            setattr(module, name, make())
            n += 1
        else:
            n += _swap_relus(child, make)
    return n


def finetune_clamped(model: nn.Module, x: torch.Tensor, y: torch.Tensor, beta: float = 0.1, *,
                     epochs: int = 10, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                     progress: bool = True) -> nn.Module:
    """Fine-tune a copy of ``model`` with every ReLU clamped below ``beta`` (eq. 2.29).

    Returns the refined copy in eval mode with plain ReLU modules again (so it converts as
    usual); convert it with ``code="ttfs-clamped", beta=beta``. ``beta`` is in the units of
    the ANN's activations. Adam, cross-entropy, seeded; a tqdm bar shows the epochs.
    """
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    torch.manual_seed(seed)
    tuned = copy.deepcopy(model).cpu()
    if _swap_relus(tuned, lambda: ClampedReLU(beta)) == 0:
        raise ValueError("the model has no nn.ReLU modules to clamp")
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).long()
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(int(epochs)), desc=f"fine-tuning clamped ReLU (beta={beta})",
               disable=not progress)
    for _ in bar:
        bar.set_postfix(loss=train_epoch(tuned, opt, x, y, batch_size, gen))
    _swap_relus(tuned, nn.ReLU)
    tuned.clamp_beta = float(beta)
    return tuned.eval()
