"""Event-camera (DVS / ATIS) data: file formats, an event emulator, binning and filtering.

Events are a numpy structured array of dtype :data:`EVENT_DTYPE` with fields
``x``, ``y`` (pixel column and row, 0-based), ``p`` (polarity: 1 = ON, brightness went up;
0 = OFF, it went down) and ``t`` (timestamp in microseconds), sorted by ``t``.

- N-MNIST binary files (Orchard et al. 2015): 5 bytes per event, big-endian bit fields
  ``x[8] y[8] p[1] t[23]``; the data set's folders are ``Train|Test/<digit>/<id>.bin``.
- AEDAT4 files (iniVation DV) are read with the ``aedat`` decoder from PyPI; a minimal
  uncompressed writer (:func:`write_aedat4`) exists so tests and examples can make files.
- :func:`emulate` turns a still image into an N-MNIST-like recording: three saccades over
  about 300 ms, a log-intensity change detector with contrast threshold, refractory period
  and optional noise events per pixel.
- :func:`bin_events` makes (T, 2, H, W) count frames by time window or by constant event
  count; :func:`filter_hot_pixels`, :func:`refractory_filter` and :func:`clip_sigma`
  (3-sigma clipping, thesis Sec. 4.2.2.2) clean them up.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "u1"), ("t", "<i8")])
NMNIST_SIZE = (34, 34)  # (height, width) of the ATIS recordings in N-MNIST
NMNIST_MAX_T_US = (1 << 23) - 1
NMNIST_SPLITS = {"train": "Train", "test": "Test"}


class EventFileError(ValueError):
    """An event file is malformed (truncated, wrong magic number, out-of-range values)."""


def make_events(x, y, p, t) -> np.ndarray:
    """Build an event array from equal-length sequences (sorted by t, stable)."""
    x, y, p, t = (np.asarray(v) for v in (x, y, p, t))
    if not (len(x) == len(y) == len(p) == len(t)):
        raise ValueError(f"x, y, p, t must have equal lengths, got "
                         f"{len(x)}, {len(y)}, {len(p)}, {len(t)}")
    ev = np.empty(len(x), EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = x, y, p, t
    return ev[np.argsort(ev["t"], kind="stable")]


def check_events(events: np.ndarray, sensor_size: tuple[int, int] | None = None) -> np.ndarray:
    """Validate an event array (fields, polarity in {0, 1}, coordinates inside the sensor)."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None or \
            not {"x", "y", "p", "t"} <= set(events.dtype.names):
        raise ValueError("events must be a numpy structured array with fields x, y, p, t "
                         "(see spikescope.dvs.EVENT_DTYPE)")
    if len(events) and events["p"].max() > 1:
        raise ValueError("polarity p must be 0 (OFF) or 1 (ON)")
    if sensor_size is not None and len(events):
        h, w = sensor_size
        if events["x"].max() >= w or events["y"].max() >= h:
            raise ValueError(f"event coordinates up to x={events['x'].max()}, "
                             f"y={events['y'].max()} do not fit a {w}x{h} (WxH) sensor")
    return events


# ----------------------------------------------------------------------------- N-MNIST
def encode_nmnist(events: np.ndarray) -> bytes:
    """N-MNIST bytes of ``events``: per event x, y, then p<<7 | t[22:16], t[15:8], t[7:0]."""
    check_events(events)
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    t = events["t"].astype(np.int64)
    if len(events):
        if x.max() > 255 or y.max() > 255:
            raise ValueError("N-MNIST stores x and y in 8 bits: coordinates must be < 256")
        if t.min() < 0 or t.max() > NMNIST_MAX_T_US:
            raise ValueError(f"N-MNIST stores 23-bit timestamps: t must be in "
                             f"[0, {NMNIST_MAX_T_US}] us, got [{t.min()}, {t.max()}]")
    out = np.empty((len(events), 5), np.uint8)
    out[:, 0] = x
    out[:, 1] = y
    out[:, 2] = (events["p"].astype(np.int64) << 7) | (t >> 16)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()


def decode_nmnist(data: bytes, *, sensor_size: tuple[int, int] | None = NMNIST_SIZE,
                  source: str = "data") -> np.ndarray:
    """Parse N-MNIST bytes; raises :class:`EventFileError` on truncation or bad coordinates."""
    if len(data) % 5:
        raise EventFileError(f"{source}: truncated N-MNIST data ({len(data)} bytes is not a "
                             f"multiple of 5 bytes per event)")
    raw = np.frombuffer(data, np.uint8).reshape(-1, 5).astype(np.int64)
    ev = np.empty(len(raw), EVENT_DTYPE)
    ev["x"], ev["y"] = raw[:, 0], raw[:, 1]
    ev["p"] = raw[:, 2] >> 7
    ev["t"] = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    if sensor_size is not None and len(ev):
        h, w = sensor_size
        bad = (ev["x"] >= w) | (ev["y"] >= h)
        if bad.any():
            i = int(np.argmax(bad))
            raise EventFileError(f"{source}: event {i} at (x={ev['x'][i]}, y={ev['y'][i]}) is "
                                 f"outside the {w}x{h} (WxH) sensor; pass sensor_size=None "
                                 f"to skip this check")
    return ev


def write_nmnist(path: str | os.PathLike, events: np.ndarray) -> None:
    """Write ``events`` as an N-MNIST binary file (5 bytes per event)."""
    Path(path).write_bytes(encode_nmnist(events))


def read_nmnist(path: str | os.PathLike, *,
                sensor_size: tuple[int, int] | None = NMNIST_SIZE) -> np.ndarray:
    """Read an N-MNIST binary file into an event array (t in microseconds).

    ``sensor_size`` (height, width) bounds the coordinates (34x34 for N-MNIST; None = any).
    """
    return decode_nmnist(Path(path).read_bytes(), sensor_size=sensor_size, source=str(path))


def nmnist_files(root: str | os.PathLike, split: str = "test") -> list[tuple[Path, int]]:
    """``(path, label)`` of every ``<root>/Train|Test/<digit>/*.bin`` file, sorted."""
    if split not in NMNIST_SPLITS:
        raise ValueError(f"split must be one of {tuple(NMNIST_SPLITS)}, got {split!r}")
    base = Path(root) / NMNIST_SPLITS[split]
    if not base.is_dir():
        raise FileNotFoundError(f"{base} not found: N-MNIST folders are "
                                f"<root>/Train/<digit>/*.bin and <root>/Test/<digit>/*.bin")
    out = []
    for d in sorted(base.iterdir()):
        if d.is_dir() and d.name.isdigit():
            out.extend((f, int(d.name)) for f in sorted(d.glob("*.bin")))
    return out


def read_nmnist_folder(root: str | os.PathLike, split: str = "test", *, limit: int | None = None
                       ) -> tuple[list[np.ndarray], np.ndarray]:
    """Read the N-MNIST folder layout: (list of event arrays, labels int64)."""
    files = nmnist_files(root, split)[:limit]
    return [read_nmnist(f) for f, _ in files], np.array([lab for _, lab in files], np.int64)


def write_nmnist_folder(root: str | os.PathLike, split: str, recordings: list[np.ndarray],
                        labels) -> list[Path]:
    """Write recordings in the N-MNIST layout ``<root>/Train|Test/<label>/<i>.bin``."""
    if split not in NMNIST_SPLITS:
        raise ValueError(f"split must be one of {tuple(NMNIST_SPLITS)}, got {split!r}")
    paths = []
    for i, (ev, lab) in enumerate(zip(recordings, labels, strict=True)):
        d = Path(root) / NMNIST_SPLITS[split] / str(int(lab))
        d.mkdir(parents=True, exist_ok=True)
        paths.append(d / f"{i:05d}.bin")
        write_nmnist(paths[-1], ev)
    return paths


# ----------------------------------------------------------------------------- AEDAT4
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def read_aedat4(path: str | os.PathLike, *, stream: int | None = None
                ) -> tuple[np.ndarray, tuple[int, int]]:
    """Read the events of an AEDAT4 file: ``(events, (height, width))``.

    Uses the ``aedat`` package's decoder (LZ4/Zstd compressed files included). ``stream``
    picks an event stream id (default: the first one in the file's description).
    """
    import aedat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        decoder = aedat.Decoder(str(path))
        streams = decoder.id_to_stream()
    except Exception as e:  # the decoder raises bare exceptions with a message
        raise EventFileError(f"{path}: not a readable AEDAT4 file ({e})") from e
    ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
    if not ids:
        raise EventFileError(f"{path}: no event stream (streams: {streams})")
    sid = ids[0] if stream is None else stream
    if sid not in ids:
        raise ValueError(f"{path}: stream {sid} is not an event stream; event streams: {ids}")
    size = (int(streams[sid]["height"]), int(streams[sid]["width"]))
    chunks = []
    try:
        for packet in decoder:
            if packet["stream_id"] == sid and "events" in packet:
                e = packet["events"]
                chunks.append(make_events(e["x"], e["y"], e["on"].astype(np.uint8), e["t"]))
    except Exception as e:
        raise EventFileError(f"{path}: corrupt AEDAT4 packet ({e})") from e
    ev = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    ev = ev[np.argsort(ev["t"], kind="stable")]
    if len(ev) and (ev["x"].max() >= size[1] or ev["y"].max() >= size[0]):
        raise EventFileError(f"{path}: event coordinates outside the declared "
                             f"{size[1]}x{size[0]} sensor")
    return ev, size


def _flatbuffer_ioheader(description: str) -> bytes:
    """The IOHeader table {compression = None, description} as a (non-prefixed) flatbuffer."""
    desc = description.encode()
    # 0: root offset, 4: "IOHE", 8: vtable (size 10, table 8, fields: -, -, description at 4)
    buf = struct.pack("<I4sHHHHH", 20, b"IOHE", 10, 8, 0, 0, 4) + b"\0\0"
    buf += struct.pack("<iI", 20 - 8, 28 - 24)  # table at 20: soffset to vtable, string offset
    buf += struct.pack("<I", len(desc)) + desc + b"\0"
    return buf + b"\0" * (-len(buf) % 8)


def _flatbuffer_event_packet(events: np.ndarray) -> bytes:
    """A size-prefixed EventPacket flatbuffer ("EVTS"): vector of structs {t:i64 x:i16 y:i16
    on:bool} (16 bytes each, 8-aligned)."""
    body = np.zeros(len(events), np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"),
                                           ("on", "u1"), ("pad", "V3")]))
    body["t"], body["x"], body["y"], body["on"] = (events["t"], events["x"], events["y"],
                                                    events["p"])
    # 0: size, 4: root offset (-> 20), 8: "EVTS", 12: vtable (6, 8, field at 4), 20: table
    # (soffset 8, vector offset), 28: vector length, 32: elements (8-aligned)
    head = struct.pack("<I4sHHH", 20 - 4, b"EVTS", 6, 8, 4) + b"\0\0"
    head += struct.pack("<iI", 20 - 12, 28 - 24) + struct.pack("<I", len(events))
    buf = head + body.tobytes()
    return struct.pack("<I", len(buf)) + buf


def write_aedat4(path: str | os.PathLike, events: np.ndarray,
                 sensor_size: tuple[int, int] = NMNIST_SIZE, *, packet_size: int = 4096) -> None:
    """Write ``events`` as an uncompressed AEDAT4 file with one event stream (id 0).

    Layout (AEDAT 4.0): magic ``#!AER-DAT4.0\\r\\n``, u32 header length, the IOHeader
    flatbuffer (compression None, XML description of the stream with sizeX/sizeY), then
    packets of u32 stream id, u32 length and a size-prefixed ``EVTS`` flatbuffer. There is no
    file-data table (readers fall back to reading packets to the end of the file).
    """
    h, w = sensor_size
    check_events(events, sensor_size)
    desc = ('<dv version="2.0">\n  <node name="outInfo" path="/mainloop/output/outInfo/">\n'
            '    <node name="0" path="/mainloop/output/outInfo/0/">\n'
            '      <attr key="compression" type="string">NONE</attr>\n'
            '      <attr key="originalModuleName" type="string">spikescope</attr>\n'
            '      <attr key="originalOutputName" type="string">events</attr>\n'
            '      <attr key="typeIdentifier" type="string">EVTS</attr>\n'
            '      <node name="info" path="/mainloop/output/outInfo/0/info/">\n'
            f'        <attr key="sizeX" type="int">{w}</attr>\n'
            f'        <attr key="sizeY" type="int">{h}</attr>\n'
            '      </node>\n    </node>\n  </node>\n</dv>\n')
    header = _flatbuffer_ioheader(desc)
    out = [AEDAT4_MAGIC, struct.pack("<I", len(header)), header]
    for i in range(0, max(len(events), 1), packet_size):
        fb = _flatbuffer_event_packet(events[i:i + packet_size])
        out.append(struct.pack("<II", 0, len(fb)) + fb)
    Path(path).write_bytes(b"".join(out))


# ----------------------------------------------------------------------------- emulator
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
        n = np.floor(np.abs(diff) / threshold).astype(np.int64)
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


def to_time_major(x):
    """(N, T, ...) -> (T, N, ...): the layout ``SpikingNetwork.run(..., encoding="events")``
    takes. Works on numpy arrays and torch tensors."""
    return x.swapaxes(0, 1) if isinstance(x, np.ndarray) else x.transpose(0, 1)
