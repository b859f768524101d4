"""CIFAR-10 binary batches: the reader, the writer and the "cifar10" data set, on small files
written in the exact official format (the real data set is not needed)."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from spikescope.data import cifar, datasets
from spikescope.data.cifar import CifarFileError, load_cifar10, read_cifar_bin, write_cifar_bin
from spikescope.errors import ParameterError, SpikescopeError

N = 7  # records per small batch file


def _batch(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    return x, rng.integers(0, 10, size=n).astype(np.int64)


def _write_folder(root, train: bool = True, test: bool = True) -> dict:
    """The official layout with N records per file; returns {file name: (x, y)}."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] * train + ["test_batch.bin"] * test
    out = {}
    for seed, name in enumerate(names):
        out[name] = _batch(seed=seed)
        write_cifar_bin(root / name, *out[name])
    (root / "batches.meta.txt").write_text("\n".join(["airplane", "automobile", "bird", "cat",
                                                      "deer", "dog", "frog", "horse", "ship",
                                                      "truck"]) + "\n")
    return out


def test_write_read_roundtrip_is_byte_exact(tmp_path):
    x, y = _batch()
    path = tmp_path / "b.bin"
    write_cifar_bin(path, x, y)
    raw = path.read_bytes()
    assert len(raw) == N * 3073
    expected = b"".join(bytes([int(y[i])]) + x[i].tobytes() for i in range(N))
    assert raw == expected, "writer did not produce label byte + R,G,B planes per record"
    x2, y2 = read_cifar_bin(path)
    assert x2.dtype == np.uint8 and x2.shape == (N, 3, 32, 32)
    assert y2.dtype == np.int64
    assert np.array_equal(x2, x) and np.array_equal(y2, y)
    write_cifar_bin(tmp_path / "t.bin", torch.from_numpy(x), torch.from_numpy(y))
    assert (tmp_path / "t.bin").read_bytes() == raw


def test_hand_built_file_gives_rgb_row_major(tmp_path):
    """Bytes laid out by hand (no write_cifar_bin): pixel value encodes (channel, row, col)."""
    records = []
    labels = [3, 0, 9]
    for k, label in enumerate(labels):
        planes = []
        for c in range(3):  # R, G, B planes, each row-major 32x32
            vals = [(c * 80 + r * 2 + col // 16 + k) % 256 for r in range(32) for col in range(32)]
            planes.append(struct.pack("1024B", *vals))
        records.append(struct.pack("B", label) + b"".join(planes))
    path = tmp_path / "hand.bin"
    path.write_bytes(b"".join(records))
    x, y = read_cifar_bin(path)
    assert y.tolist() == labels
    for k in range(3):
        for c, r, col in [(0, 0, 0), (0, 0, 31), (1, 5, 20), (2, 31, 0), (2, 31, 31)]:
            want = (c * 80 + r * 2 + col // 16 + k) % 256
            assert x[k, c, r, col] == want, f"record {k} channel {c} pixel ({r}, {col})"
    # red plane first: channel 0 is the lowest values, blue (channel 2) the highest
    assert x[0, 0].mean() < x[0, 1].mean() < x[0, 2].mean()


@pytest.mark.parametrize("size", [3073 * 2 - 1, 3072, 3073 * 2 + 5, 0])
def test_wrong_size_is_refused_naming_file_and_record_size(tmp_path, size):
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(size))
    with pytest.raises(CifarFileError, match=rf"bad\.bin: {size} bytes .*3073") as e:
        read_cifar_bin(path)
    assert isinstance(e.value, SpikescopeError) and isinstance(e.value, ValueError)


def test_truncated_official_batch_is_refused(tmp_path):
    x, y = _batch()
    path = tmp_path / "data_batch_1.bin"
    write_cifar_bin(path, x, y)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CifarFileError, match="truncated"):
        read_cifar_bin(path)


def test_label_out_of_range_names_the_record(tmp_path):
    x, y = _batch()
    path = tmp_path / "b.bin"
    write_cifar_bin(path, x, y)
    raw = bytearray(path.read_bytes())
    raw[4 * 3073] = 10  # label byte of record 4
    path.write_bytes(bytes(raw))
    with pytest.raises(CifarFileError, match="record 4 has label 10"):
        read_cifar_bin(path)


class _Marker:
    """Unpickling this would create a marker file: proof the loader never unpickles."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_version_is_refused_without_executing(tmp_path):
    marker = tmp_path / "UNPICKLED"
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    payload = pickle.dumps({b"data": _Marker(str(marker)), b"labels": [1, 2]}, protocol=2)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch", "batches.meta"]:
        (py / name).write_bytes(payload)
    for call in [lambda: read_cifar_bin(py / "data_batch_1"),
                 lambda: load_cifar10("test", py),
                 lambda: load_cifar10("train", tmp_path),  # folder holding cifar-10-batches-py
                 lambda: datasets.load("cifar10", "train", root=py)]:
        with pytest.raises(CifarFileError, match="pickle") as e:
            call()
        assert "cifar-10-binary.tar.gz" in str(e.value)
    # the same pickle renamed to .bin is caught by its first byte
    (tmp_path / "renamed.bin").write_bytes(payload)
    with pytest.raises(CifarFileError, match="pickle"):
        read_cifar_bin(tmp_path / "renamed.bin")
    assert not marker.exists(), "the pickle was executed"


def test_load_train_and_test_splits(tmp_path):
    files = _write_folder(tmp_path / "cifar-10-batches-bin")
    x, y = load_cifar10("test", tmp_path / "cifar-10-batches-bin")
    assert x.dtype == torch.float32 and x.shape == (N, 3, 32, 32)
    assert y.dtype == torch.int64 and y.shape == (N,)
    assert 0 <= x.min() and x.max() <= 1
    xt, yt = files["test_batch.bin"]
    assert torch.equal(x, torch.from_numpy(xt.astype(np.float32) / 255))
    assert torch.equal(y, torch.from_numpy(yt))
    # the parent of cifar-10-batches-bin works too; train is the five batches in order
    x, y = load_cifar10("train", tmp_path)
    assert x.shape == (5 * N, 3, 32, 32)
    want = np.concatenate([files[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert y.tolist() == want.tolist()
    assert torch.equal((x[-N:] * 255).round().to(torch.uint8),
                       torch.from_numpy(files["data_batch_5.bin"][0]))


def test_registered_data_set_and_env_var(tmp_path, monkeypatch):
    _write_folder(tmp_path)
    assert "cifar10" in datasets.names()
    x, y = datasets.load("cifar10", "test", root=tmp_path)
    assert x.shape == (N, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    monkeypatch.setenv(cifar.ENV_VAR, os.fspath(tmp_path))
    x2, y2 = datasets.load("cifar10", "test")
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_missing_folder_or_files_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(cifar.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=r"SPIKESCOPE_CIFAR10.*") as e:
        load_cifar10("test")
    assert cifar.URL in str(e.value)
    with pytest.raises(FileNotFoundError, match="does not exist") as e:
        load_cifar10("test", tmp_path / "nowhere")
    assert cifar.URL in str(e.value)
    _write_folder(tmp_path, train=True, test=False)
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_3\.bin missing") as e:
        load_cifar10("train", tmp_path)
    assert "data_batch_1.bin" not in str(e.value).split("missing")[0]
    with pytest.raises(FileNotFoundError, match=r"test_batch\.bin missing"):
        load_cifar10("test", tmp_path)
    with pytest.raises(ParameterError, match="split"):
        load_cifar10("val", tmp_path)


def test_writer_checks_its_arguments(tmp_path):
    x, y = _batch()
    with pytest.raises(ParameterError, match="uint8"):
        write_cifar_bin(tmp_path / "a.bin", x.astype(np.float32), y)
    with pytest.raises(ParameterError, match="uint8"):
        write_cifar_bin(tmp_path / "a.bin", x[:, :1], y)
    with pytest.raises(ParameterError, match="labels"):
        write_cifar_bin(tmp_path / "a.bin", x, y + 10)
    with pytest.raises(ParameterError, match="integer labels"):
        write_cifar_bin(tmp_path / "a.bin", x, y[:3])
    assert not (tmp_path / "a.bin").exists()
