"""Recurrent spiking layers (LIF and adaptive-threshold ALIF) for the learning-rule lab.

Cell dynamics of Bellec et al. (2020), e-prop, with hidden state h_t = (v_t, a_t):

    z_t     = H(v_t - A_t),    A_t = v_th + beta * a_t           (spike; surrogate derivative psi)
    v_{t+1} = alpha * v_t + I_{t+1} - v_th * sg(z_t)           (leaky membrane, soft reset)
    a_{t+1} = rho * a_t + z_t                                   (threshold adaptation; ALIF only)
    I_{t+1} = W_in x_{t+1} + W_rec z_t

with alpha = exp(-dt/tau_m), rho = exp(-dt/tau_a); LIF is ALIF with beta = 0 and no a. sg()
stops the gradient through the reset, as in the reference implementation. The readout is a
leaky integrator y_t = kappa y_{t-1} + W_out z_t + b_out; the class score is mean_t y_t.

These cells keep e-prop's own order, reset applied one step late and not leaked
(v_{t+1} = alpha v_t + I - v_th z_t), which differs from the core's eq. 2.4
(reset, then leak); the feed-forward :class:`SpikingMLP` uses the core's LIF model
(:class:`spikescope.neurons.LIF`, ``surrogate_step``) itself.

Cells expose the transition ``step(h, current)`` and ``spikes(h)`` separately so that learning
rules (e-prop) can derive eligibility traces from the dynamics by automatic differentiation,
without per-cell hand derivations.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..neurons import LIF
from ..neurons.surrogate import damped_spike


class LIFCell(nn.Module):
    """Leaky integrate-and-fire cell, state (v,). tau_m in ms, dt in ms."""

    state_names = ("v",)

    def __init__(self, n: int, *, tau_m: float = 20.0, v_th: float = 0.6, dt: float = 1.0,
                 gamma: float = 0.3) -> None:
        super().__init__()
        self.n, self.v_th, self.gamma = n, v_th, gamma
        self.alpha = math.exp(-dt / tau_m)

    def threshold(self, h: torch.Tensor) -> torch.Tensor:
        return torch.full_like(h[0], self.v_th)

    def spikes(self, h: torch.Tensor) -> torch.Tensor:
        """z_t from state h (S, B, n)."""
        return damped_spike((h[0] - self.threshold(h)) / self.v_th, self.gamma)

    def step(self, h: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """h_{t+1} from h_t and the synaptic current I_{t+1}."""
        z = self.spikes(h).detach()
        return (self.alpha * h[0] + current - self.v_th * z).unsqueeze(0)

    def init_state(self, batch: int, device=None) -> torch.Tensor:
        return torch.zeros(len(self.state_names), batch, self.n, device=device)


class ALIFCell(LIFCell):
    """Adaptive LIF cell (Bellec et al. 2018/2020), state (v, a); tau_a in ms."""

    state_names = ("v", "a")

    def __init__(self, n: int, *, tau_m: float = 20.0, tau_a: float = 200.0, beta: float = 1.8,
                 v_th: float = 0.6, dt: float = 1.0, gamma: float = 0.3) -> None:
        super().__init__(n, tau_m=tau_m, v_th=v_th, dt=dt, gamma=gamma)
        self.rho, self.beta = math.exp(-dt / tau_a), beta

    def threshold(self, h: torch.Tensor) -> torch.Tensor:
        return self.v_th + self.beta * h[1]

    def step(self, h: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        z = self.spikes(h)
        v = self.alpha * h[0] + current - self.v_th * z.detach()
        a = self.rho * h[1] + z
        return torch.stack([v, a])


class RecurrentSNN(nn.Module):
    """Input -> recurrent (A)LIF layer -> leaky readout. Input (B, T, n_in) or (B, T)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, cell: str = "alif",
                 recurrent: bool = True, kappa: float = 0.9, seed: int = 0, **cell_kw) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.cell = (ALIFCell if cell == "alif" else LIFCell)(n_hidden, **cell_kw)
        self.w_in = nn.Parameter(torch.randn(n_hidden, n_in, generator=gen) / math.sqrt(n_in))
        self.w_rec = nn.Parameter(torch.randn(n_hidden, n_hidden, generator=gen)
                                  / math.sqrt(n_hidden)) if recurrent else None
        if self.w_rec is not None:
            with torch.no_grad():
                self.w_rec.fill_diagonal_(0)  # no self-connections
        self.w_out = nn.Parameter(torch.randn(n_out, n_hidden, generator=gen)
                                  / math.sqrt(n_hidden))
        self.b_out = nn.Parameter(torch.zeros(n_out))
        self.kappa = kappa

    def hidden_weights(self) -> dict[str, nn.Parameter]:
        """The weights into the spiking layer (trained by e-prop's eligibility traces)."""
        w = {"w_in": self.w_in}
        if self.w_rec is not None:
            w["w_rec"] = self.w_rec
        return w

    def current(self, x_t: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        i = x_t @ self.w_in.t()
        if self.w_rec is not None:
            i = i + z_prev @ self.w_rec.t()
        return i

    def forward(self, x: torch.Tensor, *, return_spikes: bool = False):
        """Class scores (B, n_out) = mean over time of the readout (and spikes (T, B, n))."""
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        B, T, _ = x.shape
        h = self.cell.init_state(B, x.device)
        z = torch.zeros(B, self.cell.n, device=x.device)
        y = torch.zeros(B, self.w_out.shape[0], device=x.device)
        ys, zs = [], []
        for t in range(T):
            h = self.cell.step(h, self.current(x[:, t], z))
            z = self.cell.spikes(h)
            y = self.kappa * y + z @ self.w_out.t() + self.b_out
            ys.append(y)
            zs.append(z)
        out = torch.stack(ys).mean(0)
        return (out, torch.stack(zs)) if return_spikes else out


def _damped_half(x: torch.Tensor) -> torch.Tensor:
    return damped_spike(x, 0.5)


class SpikingMLP(nn.Module):
    """Feed-forward LIF network (surrogate gradients), spike-count readout over T steps.

    Input (B, n_in) in [0, 1] as constant current; output (B, n_out) = output spike counts
    plus the last layer's membrane (so the loss has a gradient before the first spike).
    """

    def __init__(self, sizes: tuple[int, ...], *, timesteps: int = 8, tau_m: float = 10.0,
                 seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.timesteps = timesteps
        self.alpha = math.exp(-1.0 / tau_m)
        self.neuron = LIF(leak=self.alpha)  # eq. 2.4: threshold 1, reset by subtraction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1)
        v = [torch.zeros(len(x), l.out_features, device=x.device) for l in self.layers]
        counts = torch.zeros(len(x), self.layers[-1].out_features, device=x.device)
        for _ in range(self.timesteps):
            h = x
            for i, layer in enumerate(self.layers):
                h, v[i] = self.neuron.surrogate_step(v[i], layer(h), _damped_half)
            counts = counts + h
        return counts + v[-1]
