"""An event-camera emulator, binning events into frames and filtering them.

- :func:`emulate` turns a still image into an N-MNIST-like recording: three saccades over
  about 300 ms, a log-intensity change detector with contrast threshold, refractory period
  and optional noise events per pixel.
- :func:`bin_events` makes (T, 2, H, W) count frames by time window or by constant event
  count; :func:`filter_hot_pixels`, :func:`refractory_filter` and :func:`clip_sigma`
  (3-sigma clipping, thesis Sec. 4.2.2.2) clean them up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .events import EVENT_DTYPE, NMNIST_SIZE, check_events, make_events

if TYPE_CHECKING:
    import torch


_TIE = 1e-9  # changes within this fraction of a threshold of a whole number do not fire


def _shift_frames(image: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                  fill: float) -> np.ndarray:
    """Frames (K, H, W) of ``image`` translated by (dx, dy) pixels (bilinear, ``fill`` outside)."""
    h, w = image.shape
    pad = int(np.ceil(max(np.abs(dx).max(initial=0), np.abs(dy).max(initial=0)))) + 1
    padded = np.pad(image, pad, constant_values=fill)
    ys, xs = np.mgrid[0:h, 0:w]
    sx = xs[None] - dx[:, None, None] + pad  # source coordinates in the padded image
    sy = ys[None] - dy[:, None, None] + pad
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    x1, y1 = np.minimum(x0 + 1, w + 2 * pad - 1), np.minimum(y0 + 1, h + 2 * pad - 1)
    return ((1 - fy) * ((1 - fx) * padded[y0, x0] + fx * padded[y0, x1])
            + fy * ((1 - fx) * padded[y1, x0] + fx * padded[y1, x1]))


def saccade_path(times_us: np.ndarray, *, duration_us: float = 300_000,
                 amplitude_px: float = 3.0, saccades: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (dx, dy) in pixels at ``times_us``: ``saccades`` straight moves of equal
    duration along the sides of an equilateral triangle of side ``amplitude_px`` centred on
    the resting position (as the N-MNIST pan-tilt unit: 3 saccades, back to the start)."""
    if saccades < 1:
        raise ValueError(f"saccades must be >= 1, got {saccades}")
    tri = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]]) * amplitude_px
    tri -= tri.mean(0)
    verts = tri[np.arange(saccades + 1) % 3]
    vx, vy = verts[:, 0], verts[:, 1]
    seg = np.clip(np.asarray(times_us, float) / duration_us * saccades, 0, saccades)
    k = np.minimum(np.floor(seg).astype(int), saccades - 1)
    f = seg - k
    return vx[k] + f * (vx[k + 1] - vx[k]), vy[k] + f * (vy[k + 1] - vy[k])


def emulate_video(frames: np.ndarray, times_us: np.ndarray, *, threshold: float = 0.2,
                  refractory_us: float = 1000.0, eps: float = 0.1, noise_rate_hz: float = 0.0,
                  seed: int | None = 0) -> np.ndarray:
    """Events of a DVS pixel array watching ``frames`` (K, H, W) intensities in [0, 1].

    Each pixel keeps the log intensity L_ref = log(eps + I) at its last event; when
    |log(eps + I(t)) - L_ref| >= threshold it emits events of polarity sign(change) (ON = 1)
    and moves L_ref by +-threshold per event. Several crossings between two frames give
    evenly spaced events in that interval; within ``refractory_us`` after an event the pixel
    emits nothing (its reference is kept, so it fires once the period is over). Noise: ON/OFF
    events of random polarity, Poisson with ``noise_rate_hz`` per pixel.

    threshold: contrast threshold in log-intensity units (natural log; 0.2 ~ 20 % contrast).
    eps: dark level added before the log (the sensor's dark current), in intensity units.

    A pixel fires when the change *exceeds* the threshold; a change of exactly k thresholds
    (within 1e-9 of one, float rounding) gives k - 1 events. Ties matter when a scene returns
    exactly to an earlier state: ``emulate``'s saccades end where they start, so at the last
    frame every pixel that has fired sits exactly a whole number of thresholds from its
    reference; with ">=" decided by rounding, about 230 pixels of a digit fired at once at
    300 ms (ON or OFF as the rounding fell), a burst no real sensor shows.
    """
    frames = np.asarray(frames, np.float64)
    times_us = np.asarray(times_us, np.float64)
    if frames.ndim != 3 or len(frames) != len(times_us):
        raise ValueError(f"frames must be (K, H, W) with one time per frame, got "
                         f"{frames.shape} and {times_us.shape}")
    if not threshold > 0 or not eps > 0 or refractory_us < 0 or noise_rate_hz < 0:
        raise ValueError("threshold and eps must be positive; refractory_us and noise_rate_hz "
                         "non-negative")
    if np.any(np.diff(times_us) <= 0):
        raise ValueError("frame times must be strictly increasing")
    _, h, w = frames.shape
    log_i = np.log(eps + np.clip(frames, 0, None))
    ref = log_i[0].copy()
    ready_at = np.full((h, w), -np.inf)  # time from which each pixel may fire again
    xs, ys, ps, ts = [], [], [], []
    for k in range(1, len(frames)):
        t0, t1 = times_us[k - 1], times_us[k]
        diff = log_i[k] - ref
        # a change of exactly one threshold (to rounding) does not fire: ties are decided the
        # same way everywhere instead of by float rounding (see the docstring)
        n = np.floor(np.abs(diff) / threshold - _TIE).clip(min=0).astype(np.int64)
        n[ready_at > t1] = 0
        if refractory_us > 0:  # at most one event per refractory period within the interval
            n = np.minimum(n, max(1, int((t1 - t0) // refractory_us)))
        iy, ix = np.nonzero(n)
        if not len(iy):
            continue
        cnt = n[iy, ix]
        sign = np.sign(diff[iy, ix])
        start = np.maximum(t0, ready_at[iy, ix])
        rep = np.repeat(np.arange(len(iy)), cnt)
        j = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        t_ev = start[rep] + (j + 1) * (t1 - start[rep]) / cnt[rep]
        xs.append(ix[rep]), ys.append(iy[rep]), ps.append((sign[rep] > 0).astype(np.uint8))
        ts.append(np.round(t_ev).astype(np.int64))
        ref[iy, ix] += sign * cnt * threshold
        ready_at[iy, ix] = t1 + refractory_us if refractory_us > 0 else -np.inf
    if noise_rate_hz > 0:
        rng = np.random.default_rng(seed)
        span = times_us[-1] - times_us[0]
        m = rng.poisson(noise_rate_hz * span * 1e-6 * h * w)
        xs.append(rng.integers(0, w, m)), ys.append(rng.integers(0, h, m))
        ps.append(rng.integers(0, 2, m).astype(np.uint8))
        ts.append(np.round(times_us[0] + rng.uniform(0, span, m)).astype(np.int64))
    if not xs:
        return np.empty(0, EVENT_DTYPE)
    return make_events(*(np.concatenate(v) for v in (xs, ys, ps, ts)))


def emulate(image: np.ndarray, *, duration_ms: float = 300.0, saccades: int = 3,
            amplitude_px: float = 3.0, dt_us: float = 1000.0, threshold: float = 0.2,
            refractory_us: float = 1000.0, eps: float = 0.1, noise_rate_hz: float = 0.0,
            background: float = 0.0, seed: int | None = 0) -> np.ndarray:
    """Turn a still image into an N-MNIST-like event recording.

    The image (H, W) of intensities in [0, 1] moves in ``saccades`` straight saccades around a
    triangle of side ``amplitude_px`` pixels during ``duration_ms`` (N-MNIST: 3 saccades of
    ~100 ms each, the sensor on a pan-tilt unit in front of a monitor); the scene is sampled
    every ``dt_us`` us (bilinear translation, ``background`` outside the image) and fed to
    :func:`emulate_video` (contrast ``threshold`` in log units, ``refractory_us``, ``eps``,
    ``noise_rate_hz`` per pixel). The sensor has the image's size. A static scene
    (``amplitude_px=0``) gives no events apart from noise.
    """
    image = np.asarray(image, np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    if not duration_ms > 0 or not dt_us > 0:
        raise ValueError("duration_ms and dt_us must be positive")
    times = np.arange(0.0, duration_ms * 1000 + dt_us / 2, dt_us)
    dx, dy = saccade_path(times, duration_us=duration_ms * 1000, amplitude_px=amplitude_px,
                          saccades=saccades)
    frames = _shift_frames(image, dx, dy, background)
    return emulate_video(frames, times, threshold=threshold, refractory_us=refractory_us,
                         eps=eps, noise_rate_hz=noise_rate_hz, seed=seed)


# ----------------------------------------------------------------------------- binning
def bin_events(events: np.ndarray, n_bins: int, *, mode: str = "time",
               sensor_size: tuple[int, int] = NMNIST_SIZE, t_start_us: float | None = None,
               duration_us: float | None = None, dtype=np.float32) -> np.ndarray:
    """Count events into frames (n_bins, 2, H, W); channel 0 = OFF, channel 1 = ON.

    mode "time": equal time windows over [t_start, t_start + duration) (defaults: the first
    event's time and the span of the recording); events outside the window are dropped.
    mode "count": consecutive groups of (almost) equal event counts (len // n_bins or one more).
    Every event inside the window lands in exactly one bin, so the counts sum to len(events).
    """
    check_events(events, sensor_size)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}")
    h, w = sensor_size
    frames = np.zeros((int(n_bins), 2, h, w), dtype)
    if not len(events):
        return frames
    if mode == "time":
        t = events["t"].astype(np.float64)
        t0 = float(t.min()) if t_start_us is None else float(t_start_us)
        span = float(t.max() - t0 + 1) if duration_us is None else float(duration_us)
        if not span > 0:
            raise ValueError(f"duration_us must be positive, got {duration_us}")
        keep = (t >= t0) & (t < t0 + span)
        b = np.floor((t[keep] - t0) / span * n_bins).astype(np.int64).clip(0, n_bins - 1)
        ev = events[keep]
    elif mode == "count":
        ev = events
        b = (np.arange(len(ev)) * n_bins) // len(ev)
    else:
        raise ValueError(f"mode must be 'time' or 'count', got {mode!r}")
    np.add.at(frames, (b, ev["p"].astype(np.int64), ev["y"].astype(np.int64),
                       ev["x"].astype(np.int64)), 1)
    return frames


def filter_hot_pixels(events: np.ndarray, sensor_size: tuple[int, int] = NMNIST_SIZE, *,
                      n_sigma: float = 5.0) -> np.ndarray:
    """Drop all events of hot pixels: pixels whose event count exceeds the mean count of the
    active pixels by more than ``n_sigma`` standard deviations."""
    check_events(events, sensor_size)
    if not len(events):
        return events
    h, w = sensor_size
    idx = events["y"].astype(np.int64) * w + events["x"]
    counts = np.bincount(idx, minlength=h * w)
    active = counts[counts > 0]
    hot = counts > active.mean() + n_sigma * active.std()
    return events[~hot[idx]]


def refractory_filter(events: np.ndarray, refractory_us: float) -> np.ndarray:
    """Drop events that follow the previous kept event of the same pixel within
    ``refractory_us`` microseconds (either polarity)."""
    check_events(events)
    if refractory_us <= 0 or not len(events):
        return events
    order = np.lexsort((events["t"], events["x"], events["y"]))
    ev = events[order]
    keep = np.ones(len(ev), bool)
    pix = ev["y"].astype(np.int64) * 65536 + ev["x"]
    t = ev["t"]
    last_pix, last_t = -1, 0
    for i in range(len(ev)):  # sequential by nature: depends on the last *kept* event
        if pix[i] == last_pix and t[i] - last_t < refractory_us:
            keep[i] = False
        else:
            last_pix, last_t = pix[i], t[i]
    out = ev[keep]
    return out[np.argsort(out["t"], kind="stable")]


def clip_sigma(frames: np.ndarray, n_sigma: float = 3.0) -> np.ndarray:
    """3-sigma clipping of event-count frames (thesis Sec. 4.2.2.2): per frame (leading axes),
    counts above mean + n_sigma * std of that frame's non-zero counts are set to that limit.

    ``frames`` (..., C, H, W); returns a clipped copy (same dtype).
    """
    f = np.asarray(frames)
    if f.ndim < 3:
        raise ValueError(f"frames must be (..., C, H, W), got shape {f.shape}")
    flat = f.reshape(-1, int(np.prod(f.shape[-3:]))).astype(np.float64)
    nz = flat > 0
    n = nz.sum(1).clip(min=1)
    mean = (flat * nz).sum(1) / n
    std = np.sqrt((((flat - mean[:, None]) ** 2) * nz).sum(1) / n)
    limit = mean + n_sigma * std
    out = np.minimum(flat, np.where(nz.any(1), limit, np.inf)[:, None])
    return out.reshape(f.shape).astype(f.dtype)


def to_time_major(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """(N, T, ...) -> (T, N, ...): the layout ``SpikingNetwork.run(..., encoding="events")``
    takes. Works on numpy arrays and torch tensors."""
    return x.swapaxes(0, 1) if isinstance(x, np.ndarray) else x.transpose(0, 1)
