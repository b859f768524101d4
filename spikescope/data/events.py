"""Event-camera (DVS / ATIS) events and their files.

Events are a numpy structured array of dtype :data:`EVENT_DTYPE` with fields
``x``, ``y`` (pixel column and row, 0-based), ``p`` (polarity: 1 = ON, brightness went up;
0 = OFF, it went down) and ``t`` (timestamp in microseconds), sorted by ``t``.

- N-MNIST binary files (Orchard et al. 2015): 5 bytes per event, big-endian bit fields
  ``x[8] y[8] p[1] t[23]``; the data set's folders are ``Train|Test/<digit>/<id>.bin``.
- AEDAT4 files (iniVation DV) are read with the ``aedat`` decoder from PyPI; a minimal
  uncompressed writer (:func:`write_aedat4`) exists so tests and examples can make files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "u1"), ("t", "<i8")])
NMNIST_SIZE = (34, 34)  # (height, width) of the ATIS recordings in N-MNIST
NMNIST_MAX_T_US = (1 << 23) - 1
NMNIST_SPLITS = {"train": "Train", "test": "Test"}
NMNIST_OVERFLOW_Y = 240  # row value of a timestamp-overflow marker (not an event)
NMNIST_OVERFLOW_US = 1 << 13  # time a marker adds to every later event


from ..errors import EventFileError as EventFileError  # noqa: E402 - the hierarchy


def make_events(x: ArrayLike, y: ArrayLike, p: ArrayLike, t: ArrayLike) -> np.ndarray:
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
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    # overflow markers (y = 240): every later event is 2^13 us later; the marker is no event
    # (as tonic.io.read_mnist_file reads them)
    marker = raw[:, 1] == NMNIST_OVERFLOW_Y
    t = t + np.cumsum(marker) * NMNIST_OVERFLOW_US
    raw, t = raw[~marker], t[~marker]
    ev = np.empty(len(raw), EVENT_DTYPE)
    ev["x"], ev["y"] = raw[:, 0], raw[:, 1]
    ev["p"] = raw[:, 2] >> 7
    ev["t"] = t
    if sensor_size is not None and len(ev):
        h, w = sensor_size
        bad = (ev["x"] >= w) | (ev["y"] >= h)
        if bad.any():
            i = int(np.argmax(bad))
            raise EventFileError(f"{source}: event {i} at (x={ev['x'][i]}, y={ev['y'][i]}) is "
                                 f"outside the {w}x{h} (WxH) sensor; pass sensor_size=None "
                                 f"to skip this check")
    if len(ev) > 1 and (np.diff(ev["t"]) < 0).any():  # timestamps going backwards: sort
        ev = ev[np.argsort(ev["t"], kind="stable")]
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
    _check_aedat_layout(path)
    try:
        decoder = aedat.Decoder(str(path))
        streams = decoder.id_to_stream()
    except BaseException as e:  # noqa: BLE001 - the Rust decoder panics (a BaseException)
        _reraise_interrupt(e)
        raise EventFileError(f"{path}: not a readable AEDAT4 file ({type(e).__name__}: "
                             f"{e})") from e
    ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
    if not ids:
        raise EventFileError(f"{path}: no event stream (streams: {streams})")
    sid = ids[0] if stream is None else stream
    if sid not in ids:
        raise ValueError(f"{path}: stream {sid} is not an event stream; event streams: {ids}")
    try:
        size = (int(streams[sid]["height"]), int(streams[sid]["width"]))
    except (KeyError, TypeError, ValueError) as e:
        raise EventFileError(f"{path}: event stream {sid} has no valid width/height in the "
                             f"file's description ({e!r})") from e
    chunks = []
    try:
        for packet in decoder:
            if packet["stream_id"] == sid and "events" in packet:
                e = packet["events"]
                chunks.append(make_events(e["x"], e["y"], e["on"].astype(np.uint8), e["t"]))
    except BaseException as e:  # noqa: BLE001 - a zero-size or zero-filled packet panics
        _reraise_interrupt(e)
        raise EventFileError(f"{path}: corrupt AEDAT4 packet ({type(e).__name__}: {e})") from e
    ev = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    ev = ev[np.argsort(ev["t"], kind="stable")]
    if len(ev) and (ev["x"].max() >= size[1] or ev["y"].max() >= size[0]):
        raise EventFileError(f"{path}: event coordinates outside the declared "
                             f"{size[1]}x{size[0]} sensor")
    return ev, size


def _check_aedat_layout(path: Path) -> None:
    """Walk the header and packet sizes (no payload is read): the Rust decoder allocates a
    declared size before reading it and aborts the whole process when that fails, so a size
    past the end of the file is refused here first."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(len(AEDAT4_MAGIC)) != AEDAT4_MAGIC:
            raise EventFileError(f"{path}: not an AEDAT4 file (no '#!AER-DAT4.0' magic)")
        head = f.read(4)
        if len(head) < 4:
            raise EventFileError(f"{path}: truncated AEDAT4 header")
        pos = len(AEDAT4_MAGIC) + 4 + struct.unpack("<I", head)[0]
        if pos > size:
            raise EventFileError(f"{path}: AEDAT4 header length {pos - 18} runs past the end of "
                                 f"the {size}-byte file")
        # packets end where the file-data table begins (dv-processing writes one at the end;
        # the decoder stops there too): stop only on reaching it exactly, so a forged
        # position between packets still has every size checked to the end of the file
        table = _aedat_data_table_position(f.read(pos - len(AEDAT4_MAGIC) - 4))
        while pos < size and pos != table:
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                raise EventFileError(f"{path}: truncated AEDAT4 packet header at byte {pos}")
            n = struct.unpack("<iI", hdr)[1]
            if pos + 8 + n > size:
                raise EventFileError(f"{path}: AEDAT4 packet at byte {pos} declares {n} bytes, "
                                     f"past the end of the {size}-byte file (truncated?)")
            pos += 8 + n


def _aedat_data_table_position(header: bytes) -> int:
    """IOHeader.dataTablePosition (flatbuffer field 1, int64; -1 when absent or unreadable)."""
    try:
        root = struct.unpack_from("<I", header, 0)[0]
        vtable = root - struct.unpack_from("<i", header, root)[0]
        vt_size = struct.unpack_from("<H", header, vtable)[0]
        field = struct.unpack_from("<H", header, vtable + 6)[0] if vt_size > 6 else 0
        return struct.unpack_from("<q", header, root + field)[0] if field else -1
    except struct.error:
        return -1


def _reraise_interrupt(e: BaseException) -> None:
    if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise e


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
            # the camera name: dv-processing skips a stream without it ("no supported data streams")
            '        <attr key="source" type="string">spikescope</attr>\n'
            '      </node>\n    </node>\n  </node>\n</dv>\n')
    header = _flatbuffer_ioheader(desc)
    out = [AEDAT4_MAGIC, struct.pack("<I", len(header)), header]
    for i in range(0, max(len(events), 1), packet_size):
        fb = _flatbuffer_event_packet(events[i:i + packet_size])
        out.append(struct.pack("<II", 0, len(fb)) + fb)
    Path(path).write_bytes(b"".join(out))
