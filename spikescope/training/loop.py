"""The shared supervised training epoch (zoo ANNs, jet-mlp, clamped-ReLU fine-tuning)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                target: torch.Tensor, batch_size: int, gen: torch.Generator, *,
                loss_fn: Callable[..., torch.Tensor] = nn.functional.cross_entropy) -> float:
    """One epoch of shuffled minibatch training, cross-entropy by default (``target``: class
    indices or class probabilities; pass ``loss_fn=F.mse_loss`` and ``target=x`` for a
    reconstruction); returns the last batch's loss."""
    model.train()
    for idx in torch.randperm(len(x), generator=gen).split(batch_size):
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), target[idx])
        loss.backward()
        opt.step()
    return loss.item()
