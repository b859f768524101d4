"""NIR's IF neuron written out for nirtorch's ``nir_to_torch`` (which has no IF of its own):
dv/dt = R I over one step dt, fire at v > v_threshold, reset to 0."""

import numpy as np
import torch
from torch import nn


class NirIF(nn.Module):
    def __init__(self, node, dt):
        super().__init__()
        self.gain = torch.as_tensor(np.asarray(node.r, np.float32) * dt)
        self.vt = torch.as_tensor(np.asarray(node.v_threshold, np.float32))

    def forward(self, i, state=None):
        v = (torch.zeros_like(i) if state is None else state) + self.gain * i
        z = (v > self.vt).float()
        return z, v * (1 - z)
