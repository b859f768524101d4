"""The shared supervised training epoch (zoo ANNs, jet-mlp, clamped-ReLU fine-tuning)."""

from __future__ import annotations

import torch
from torch import nn


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                target: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    """One epoch of shuffled minibatch cross-entropy training (``target``: class indices or
    class probabilities); returns the last batch's loss."""
    model.train()
    for idx in torch.randperm(len(x), generator=gen).split(batch_size):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[idx]), target[idx])
        loss.backward()
        opt.step()
    return loss.item()
