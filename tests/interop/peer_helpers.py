"""Running a peer's network read from our NIR files: NIR's IF neuron written out for nirtorch's
``nir_to_torch`` (which has no IF of its own), and the step loop every peer is run with."""

import numpy as np
import torch
from torch import nn


class NirIF(nn.Module):
    """NIR's IF: dv/dt = R I over one step dt, fire at v > v_threshold, reset to 0."""

    def __init__(self, node, dt):
        super().__init__()
        self.gain = torch.as_tensor(np.asarray(node.r, np.float32) * dt)
        self.vt = torch.as_tensor(np.asarray(node.v_threshold, np.float32))

    def forward(self, i, state=None):
        v = (torch.zeros_like(i) if state is None else state) + self.gain * i
        z = (v > self.vt).float()
        return z, v * (1 - z)


def run_peer(m: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Output of peer module ``m`` on the constant input ``x`` for ``steps`` steps, (T, B, N);
    a module returning (output, state) is given its state back on the next step."""
    out, state = [], None
    for _ in range(steps):
        r = m(x) if state is None else m(x, state)
        o, state = r if isinstance(r, tuple) else (r, None)
        out.append(o.detach().float())
    return torch.stack(out)
