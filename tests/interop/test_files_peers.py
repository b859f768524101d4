"""Event files and ONNX checked by the other tools themselves: iniVation's dv-processing and
tonic read spikescope's AEDAT4 / N-MNIST files, spikescope reads theirs; both torch.onnx
exporters (TorchScript-based and dynamo/onnxscript), static and dynamic batch axis."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from spikescope.data.events import (
    decode_nmnist,
    make_events,
    read_aedat4,
    read_nmnist,
    write_aedat4,
    write_nmnist,
)
from spikescope.io.onnx import load_onnx


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(0)
    n = 400
    return make_events(rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n),
                       np.sort(rng.integers(0, 200_000, n)))


def _same(a, b) -> None:
    for f in ("x", "y", "p", "t"):
        np.testing.assert_array_equal(np.asarray(a[f], np.int64), np.asarray(b[f], np.int64))


def test_dv_processing_reads_spikescope_aedat4(events, tmp_path):
    import dv_processing as dv

    write_aedat4(tmp_path / "a.aedat4", events)
    rec = dv.io.MonoCameraRecording(str(tmp_path / "a.aedat4"))
    assert rec.isEventStreamAvailable() and tuple(rec.getEventResolution()) == (34, 34)
    got = []
    while (batch := rec.getNextEventBatch()) is not None:
        got.append(batch.numpy())
    got = np.concatenate(got)
    _same({"x": got["x"], "y": got["y"], "p": got["polarity"], "t": got["timestamp"]}, events)


def test_tonic_reads_spikescope_aedat4(events, tmp_path):
    from tonic.io import read_aedat4 as tonic_read

    write_aedat4(tmp_path / "a.aedat4", events)
    got = tonic_read(str(tmp_path / "a.aedat4"))
    _same({"x": got["x"], "y": got["y"], "p": got["p"], "t": got["t"]}, events)


@pytest.mark.parametrize("compression", ["LZ4", "ZSTD", "NONE"])
def test_spikescope_reads_dv_processing_aedat4(compression, events, tmp_path):
    import dv_processing as dv

    cfg = dv.io.MonoCameraWriter.EventOnlyConfig("DVXplorer_sample", (34, 34))
    cfg.compression = getattr(dv.CompressionType, compression)
    path = str(tmp_path / "dv.aedat4")
    writer = dv.io.MonoCameraWriter(path, cfg)
    store = dv.EventStore()
    for e in events:
        store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
    writer.writeEvents(store)
    del writer  # closes the file
    got, size = read_aedat4(path)
    assert size == (34, 34)
    _same(got, events)


def test_nmnist_both_ways_with_tonic(events, tmp_path):
    from tonic.io import read_mnist_file

    write_nmnist(tmp_path / "a.bin", events)
    got = read_mnist_file(str(tmp_path / "a.bin"), dtype=np.dtype(
        [("x", int), ("y", int), ("t", int), ("p", int)]))
    _same(got, events)
    back = read_nmnist(tmp_path / "a.bin")
    _same(back, events)


def test_nmnist_overflow_markers_as_tonic_reads_them(tmp_path):
    from tonic.io import read_mnist_file

    # event, overflow marker (y = 240), event: the second event is 2^13 us later
    raw = bytes([3, 4, 0x80, 0, 10, 0, 240, 0, 0, 0, 5, 6, 0, 0, 20])
    (tmp_path / "o.bin").write_bytes(raw)
    ours = decode_nmnist(raw)
    theirs = read_mnist_file(str(tmp_path / "o.bin"), dtype=np.dtype(
        [("x", int), ("y", int), ("t", int), ("p", int)]))
    assert list(ours["t"]) == [10, 20 + 8192]
    _same(ours, theirs)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("dynamo", [False, True])
def test_onnx_from_both_exporters(dynamo, dynamic, tmp_path):
    torch.manual_seed(0)
    model, x = _Net().eval(), torch.rand(2, 1, 8, 8)
    kw = {}
    if dynamic:
        kw = ({"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo
              else {"dynamic_axes": {"x": {0: "batch"}}})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, input_names=["x"], dynamo=dynamo, **kw)
    loaded = load_onnx(buf.getvalue(), "net", strict=True)
    xb = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(loaded(xb), model(xb), rtol=1e-5, atol=1e-5)
