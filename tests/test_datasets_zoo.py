import gzip
import json

import numpy as np
import pytest
import torch

from spikescope import datasets, zoo


def test_digits_split_is_fixed_and_scaled():
    xtr, ytr = datasets.load("digits", "train")
    xte, yte = datasets.load("digits", "test")
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8)
    assert 0 <= xtr.min() and xtr.max() <= 1
    assert torch.equal(datasets.load("digits", "test")[0], xte)
    assert set(yte.tolist()) == set(range(10))
    assert datasets.load("digits28", "test")[0].shape == (360, 1, 28, 28)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load("cifar", "test")
    with pytest.raises(ValueError, match="split"):
        datasets.load("digits", "validation")
    with pytest.raises(ValueError, match="unknown model"):
        zoo.load("resnet")


def _write_mnist(root, n, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    for stem, arr in [("t10k-images-idx3-ubyte", imgs), ("t10k-labels-idx1-ubyte", labels)]:
        path = root / stem
        datasets.write_idx(path, arr)
        if gz:
            (root / (stem + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    return imgs, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_loader(tmp_path, gz):
    imgs, labels = _write_mnist(tmp_path, 12, gz)
    x, y = datasets.load("mnist", "test", root=tmp_path)
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32
    assert np.allclose(x[:, 0].numpy() * 255, imgs) and np.array_equal(y.numpy(), labels)


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(ValueError, match="not an IDX"):
        datasets.read_idx(bad)
    good = tmp_path / "good"
    datasets.write_idx(good, np.zeros((5, 3), np.uint8))
    (tmp_path / "trunc").write_bytes(good.read_bytes()[:-4])
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "trunc")
    with pytest.raises(FileNotFoundError, match="not found"):
        datasets.load("mnist", "test", root=tmp_path)


def test_shipped_models_match_their_metadata():
    assert {"digits-mlp", "digits-cnn", "lenet5"} <= set(zoo.names())
    for name in ("digits-mlp", "digits-cnn", "lenet5"):
        meta = zoo.info(name)
        x, y = datasets.load(meta["dataset"], "test")
        acc = zoo.accuracy(zoo.load(name), x, y)
        assert acc == pytest.approx(meta["test_accuracy"], abs=1e-6)
        assert acc > 0.9


def test_training_script_is_seeded(tmp_path):
    a = zoo.train_ann("digits-mlp", epochs=2, seed=1, out_dir=tmp_path / "a", progress=False)
    b = zoo.train_ann("digits-mlp", epochs=2, seed=1, out_dir=tmp_path / "b", progress=False)
    assert a["test_accuracy"] == b["test_accuracy"] > 0.5
    assert json.loads((tmp_path / "a" / "digits-mlp.json").read_text())["epochs"] == 2
