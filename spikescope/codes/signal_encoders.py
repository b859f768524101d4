"""Temporal spike encoders for 1-D signals and their decoders (Petro et al. 2020, as in Neko).

Each encoder turns a signal x (B, L) into signed spikes s (B, L) in {-1, 0, +1}; each decoder
rebuilds an estimate from the spikes, the threshold and the first sample:

- temporal contrast (TC): threshold = mean(dx) + factor * std(dx) over the whole sequence
  (dx = x_t - x_{t-1}); s_t = +1 if dx_t > threshold, -1 if dx_t < -threshold.
  Decoder: x_0 + threshold * cumsum(s).
- step-forward (SF): a baseline starts at x_0; s_t = +1 (baseline += threshold) if
  x_t > baseline + threshold, -1 (baseline -= threshold) if x_t < baseline - threshold.
  Decoder: x_0 + threshold * cumsum(s).
- moving window (MW): baseline = mean of the previous ``window`` samples; s_t = +1 if
  x_t > baseline + threshold, -1 if x_t < baseline - threshold. Decoder: as SF.
"""

from __future__ import annotations

import torch

SIGNAL_ENCODERS = ("tc", "sf", "mw")


def _as_batch(x) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2 or x.shape[1] < 2:
        raise ValueError(f"signal must be (L,) or (B, L) with L >= 2, got {tuple(x.shape)}")
    return x


def tc_threshold(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Per-signal TC threshold mean(dx) + factor * std(dx), shape (B, 1)."""
    dx = x.diff(dim=1)
    return (dx.mean(1, keepdim=True) + factor * dx.std(1, keepdim=True)).abs()


def tc_encode(x, factor: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal-contrast spikes (B, L) and the threshold (B, 1)."""
    x = _as_batch(x)
    thr = tc_threshold(x, factor)
    dx = torch.cat([torch.zeros_like(x[:, :1]), x.diff(dim=1)], 1)
    return (dx > thr).float() - (dx < -thr).float(), thr


def sf_encode(x, threshold: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Step-forward spikes (B, L) and the threshold (B, 1)."""
    x = _as_batch(x)
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    base = x[:, 0].clone()
    s = torch.zeros_like(x)
    for t in range(1, x.shape[1]):
        up = x[:, t] > base + threshold
        down = x[:, t] < base - threshold
        s[:, t] = up.float() - down.float()
        base = base + threshold * s[:, t]
    return s, torch.full((len(x), 1), float(threshold))


def mw_encode(x, threshold: float = 0.1, window: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Moving-window spikes (B, L) and the threshold (B, 1)."""
    x = _as_batch(x)
    if threshold <= 0 or window < 1:
        raise ValueError(f"need threshold > 0 and window >= 1, got {threshold}, {window}")
    s = torch.zeros_like(x)
    for t in range(1, x.shape[1]):
        base = x[:, max(0, t - window):t].mean(1)
        s[:, t] = (x[:, t] > base + threshold).float() - (x[:, t] < base - threshold).float()
    return s, torch.full((len(x), 1), float(threshold))


def decode(spikes: torch.Tensor, threshold: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Rebuild a signal: x0 + threshold * cumsum(spikes) (the TC/SF/MW decoder)."""
    return x0.reshape(-1, 1) + threshold * spikes.cumsum(1)


def encode_signal(x, method: str, threshold: float, window: int = 3):
    """Encode with ``method`` in ("tc", "sf", "mw"); returns spikes, decoded signal and stats.

    For "tc", ``threshold`` is the factor multiplying std(dx).
    """
    x = _as_batch(x)
    if method == "tc":
        s, thr = tc_encode(x, threshold)
    elif method == "sf":
        s, thr = sf_encode(x, threshold)
    elif method == "mw":
        s, thr = mw_encode(x, threshold, window)
    else:
        raise ValueError(f"method must be one of {SIGNAL_ENCODERS}, got {method!r}")
    rec = decode(s, thr, x[:, 0])
    return {"spikes": s, "decoded": rec, "spike_count": int(s.abs().sum()),
            "rmse": float((rec - x).pow(2).mean().sqrt())}
