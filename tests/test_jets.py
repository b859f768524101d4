"""Jet tagging workflow on a small hls4ml-schema fixture written by the tests (ARFF and CSV)."""

import gzip
import json

import numpy as np
import pytest
import torch
from torch import nn

import spikescope as ss
from spikescope import datasets, jets

N_PER_CLASS = 80  # 400 rows


def make_table(n_per_class=N_PER_CLASS, seed=0):
    """Raw features with very different scales/offsets per feature, separable classes."""
    rng = np.random.default_rng(seed)
    scales = 10 ** rng.uniform(-2, 2, len(jets.FEATURES))
    offsets = rng.normal(0, 3, len(jets.FEATURES)) * scales
    centers = rng.normal(0, 1.5, (len(jets.CLASSES), len(jets.FEATURES)))
    y = np.repeat(np.arange(len(jets.CLASSES)), n_per_class)
    rng.shuffle(y)
    z = centers[y] + rng.normal(0, 0.6, (len(y), len(jets.FEATURES)))
    return offsets + scales * z, y


def arff_text(x, y, features=jets.FEATURES, labels=None):
    labels = labels if labels is not None else [jets.CLASSES[c] for c in y]
    lines = ["% hls4ml_lhc_jets_hlf test fixture", "@RELATION hls4ml_lhc_jets_hlf", ""]
    lines += [f"@ATTRIBUTE {n} NUMERIC" for n in features]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    lines += [",".join(f"{v:.7g}" for v in row) + f",'{lab}'" for row, lab in zip(x, labels)]
    return "\n".join(lines) + "\n"


def csv_text(x, y, features=jets.FEATURES, labels=None):
    labels = labels if labels is not None else [jets.CLASSES[c] for c in y]
    lines = [",".join([*features, "class"])]
    lines += [",".join(f"{v:.7g}" for v in row) + f",{lab}" for row, lab in zip(x, labels)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture(scope="module")
def arff_file(tmp_path_factory, table):
    p = tmp_path_factory.mktemp("jets_arff") / "hls4ml_lhc_jets_hlf.arff"
    p.write_text(arff_text(*table))
    return p


@pytest.fixture(scope="module")
def trained(arff_file):
    """jet-mlp trained on the fixture (small batches / larger lr so a few epochs suffice)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 16-64-32-32-5 MLP on batches of 64 gains nothing from threads
    try:
        meta = jets.train_jet_mlp(arff_file, lr=1e-2, batch_size=64, epochs=40, patience=4,
                                  progress=False)
    finally:
        torch.set_num_threads(threads)
    return meta, jets.load_jet_mlp(arff_file)


# ----------------------------------------------------------------------------- loading
def test_arff_csv_and_gzip_read_the_same_table(tmp_path, table, arff_file):
    x, y = table
    (tmp_path / "jets.csv").write_text(csv_text(x, y))
    with gzip.open(tmp_path / "jets.csv.gz", "wt") as f:
        f.write(csv_text(x, y))
    xa, ya = jets.read_jets(arff_file)
    xc, yc = jets.read_jets(tmp_path / "jets.csv")
    xg, yg = jets.read_jets(tmp_path / "jets.csv.gz")
    assert xa.shape == (5 * N_PER_CLASS, 16) and xa.dtype == np.float32
    np.testing.assert_array_equal(ya, y)
    np.testing.assert_allclose(xa, x, rtol=1e-6)
    for xo, yo in ((xc, yc), (xg, yg)):
        np.testing.assert_array_equal(xo, xa)
        np.testing.assert_array_equal(yo, ya)


def test_columns_in_another_order_are_matched_by_name(tmp_path, table):
    x, y = table
    order = list(reversed(range(16)))
    (tmp_path / "r.csv").write_text(csv_text(x[:, order], y, [jets.FEATURES[i] for i in order]))
    xr, yr = jets.read_jets(tmp_path / "r.csv")
    np.testing.assert_allclose(xr, x, rtol=1e-6)


def test_split_is_fixed_stratified_and_standardized_on_train(arff_file, table):
    d = jets.load_jets(arff_file)
    n = 5 * N_PER_CLASS
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (0.7 * n, 0.1 * n, 0.2 * n)
    for y in (d.y_train, d.y_val, d.y_test):  # stratified: equal class counts
        counts = torch.bincount(y, minlength=5)
        assert counts.max() - counts.min() <= 1, f"split is not stratified: {counts.tolist()}"
    assert torch.allclose(d.x_train.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(16), atol=1e-3)
    raw, _ = table
    np.testing.assert_allclose(d.mean, raw[np.sort(jets.split_indices(table[1])["train"])]
                               .mean(0), rtol=1e-4, atol=1e-6)
    again = jets.split_indices(table[1])
    assert all(np.array_equal(again[k], jets.split_indices(table[1])[k]) for k in jets.SPLITS)
    xt, yt = datasets.load("jets", "test", path=arff_file)
    assert torch.equal(xt, d.x_test) and torch.equal(yt, d.y_test)
    assert (xt < 0).float().mean() > 0.3, "standardized features should be signed"


def test_one_hot():
    oh = jets.one_hot(torch.tensor([0, 4, 2]))
    assert oh.shape == (3, 5) and torch.equal(oh.argmax(1), torch.tensor([0, 4, 2]))
    assert torch.equal(oh.sum(1), torch.ones(3))
    with pytest.raises(ValueError, match="labels must be in"):
        jets.one_hot(torch.tensor([5]))


def test_missing_file_gives_instructions(monkeypatch, tmp_path):
    monkeypatch.delenv(jets.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="42468.*hls4ml_lhc_jets_hlf.*SPIKESCOPE_JETS"):
        jets.load_jets()
    with pytest.raises(FileNotFoundError, match="not shipped"):
        datasets.load("jets", "train")
    with pytest.raises(FileNotFoundError, match="does not exist.*openml.org"):
        jets.read_jets(tmp_path / "nope.arff")
    with pytest.raises(FileNotFoundError, match="no .arff or .csv"):
        jets.read_jets(tmp_path)


def test_env_var_and_folder(monkeypatch, arff_file):
    monkeypatch.setenv(jets.ENV_VAR, str(arff_file.parent))
    x, y = jets.read_jets()
    assert x.shape == (5 * N_PER_CLASS, 16)


def test_missing_and_extra_columns(tmp_path, table):
    x, y = table
    feats = list(jets.FEATURES)
    (tmp_path / "missing.csv").write_text(csv_text(x[:, 1:], y, feats[1:]))
    with pytest.raises(jets.JetsSchemaError, match=r"missing columns \['zlogz'\]"):
        jets.read_jets(tmp_path / "missing.csv")
    extra = np.hstack([x, x[:, :1]])
    (tmp_path / "extra.arff").write_text(arff_text(extra, y, [*feats, "j_pt"]))
    with pytest.raises(jets.JetsSchemaError, match=r"unexpected columns \['j_pt'\]"):
        jets.read_jets(tmp_path / "extra.arff")
    (tmp_path / "renamed.csv").write_text(csv_text(x, y, ["j_" + f for f in feats]))
    with pytest.raises(jets.JetsSchemaError, match="missing columns.*unexpected columns"):
        jets.read_jets(tmp_path / "renamed.csv")


def test_unknown_labels_and_bad_values(tmp_path, table):
    x, y = table
    labels = [jets.CLASSES[c] for c in y]
    labels[7] = "h"
    (tmp_path / "label.arff").write_text(arff_text(x, y, labels=labels))
    with pytest.raises(jets.JetsSchemaError, match=r"unknown class labels \['h'\]"):
        jets.read_jets(tmp_path / "label.arff")
    text = csv_text(x, y).splitlines()
    text[3] = "oops" + text[3][text[3].index(","):]
    (tmp_path / "value.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(jets.JetsSchemaError, match="'zlogz'.*non-numeric.*row 2"):
        jets.read_jets(tmp_path / "value.csv")
    body = arff_text(x, y).replace("@DATA", "").replace("@ATTRIBUTE", "% x")
    (tmp_path / "nodata.arff").write_text(body)
    with pytest.raises(jets.JetsSchemaError):
        jets.read_jets(tmp_path / "nodata.arff")


def test_fetch_openml_cache_folder(tmp_path, table):
    """The layout scikit-learn's fetch_openml leaves under data_home (gzipped mirror of URLs)."""
    root = tmp_path / "scikit_learn_data" / "openml" / "openml.org"
    desc = root / "api" / "v1" / "json" / "data" / f"{jets.OPENML_ID}.gz"
    desc.parent.mkdir(parents=True)
    url = "https://www.openml.org/data/v1/download/22044371/hls4ml_lhc_jets_hlf.arff"
    with gzip.open(desc, "wt") as f:
        json.dump({"data_set_description": {"id": str(jets.OPENML_ID), "url": url}}, f)
    data = root / "data" / "v1" / "download" / "22044371" / "hls4ml_lhc_jets_hlf.arff.gz"
    data.parent.mkdir(parents=True)
    with gzip.open(data, "wt") as f:
        f.write(arff_text(*table))
    x, y = jets.read_jets(tmp_path / "scikit_learn_data")
    np.testing.assert_array_equal(y, table[1])
    assert jets.weights_path(tmp_path / "scikit_learn_data").parent == \
        tmp_path / "scikit_learn_data"
    data.unlink()
    with pytest.raises(FileNotFoundError, match="not its data file"):
        jets.read_jets(tmp_path / "scikit_learn_data")


# ----------------------------------------------------------------------------- model + words
def test_jet_mlp_is_16_64_32_32_5():
    shapes = [tuple(m.weight.shape) for m in jets.jet_mlp() if isinstance(m, nn.Linear)]
    assert shapes == [(64, 16), (32, 64), (32, 32), (5, 32)]


def test_training_saves_next_to_data_and_reloads(trained, arff_file):
    meta, model = trained
    w = arff_file.parent / "jet-mlp.safetensors"
    assert w.is_file() and w.with_suffix(".json").is_file()
    info = json.loads(w.with_suffix(".json").read_text())
    assert info["test_accuracy"] == meta["test_accuracy"] > 0.9
    assert info["stopped"] in ("early stopping", "max epochs") and len(info["mean"]) == 16
    data = jets.load_jets(arff_file)
    assert float((model(data.x_test).argmax(1) == data.y_test).float().mean()) == \
        pytest.approx(meta["test_accuracy"])
    again = jets.train_jet_mlp(arff_file, lr=1e-2, batch_size=64, epochs=2, patience=5,
                               progress=False, out_dir=arff_file.parent / "again")
    again2 = jets.train_jet_mlp(arff_file, lr=1e-2, batch_size=64, epochs=2, patience=5,
                                progress=False, out_dir=arff_file.parent / "again2")
    assert again["history"] == again2["history"], "training is not seeded"


def test_load_jet_mlp_without_weights_says_how(tmp_path, table):
    (tmp_path / "j.csv").write_text(csv_text(*table))
    with pytest.raises(FileNotFoundError, match="train_jets.py"):
        jets.load_jet_mlp(tmp_path / "j.csv")


def test_per_class_change_names_losses_and_gains():
    ann = np.array([[80, 10, 5, 3, 2], [10, 70, 10, 5, 5], [2, 3, 75, 15, 5],
                    [2, 3, 25, 60, 10], [1, 1, 5, 3, 90]])
    snn = ann.copy()
    snn[3] = [2, 3, 40, 45, 10]   # Z loses 15 points, mostly to W
    snn[1] = [5, 80, 5, 5, 5]     # q gains 10 points
    text = jets.per_class_change(ann, snn, jets.CLASSES)
    assert "loses Z boson (z) 60.0% -> 45.0% (-15.0 points)" in text
    assert "gains light quark (q) 70.0% -> 80.0% (+10.0 points)" in text
    assert "Unchanged" in text and "gluon (g)" in text
    assert "Z boson (z) taken for W boson (w) (40.0%" in text
    assert "weakest class is Z boson (z)" in text
    same = jets.per_class_change(ann, ann, jets.CLASSES)
    assert "matches the ANN on every class" in same and "loses" not in same
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        jets.per_class_change(ann[:4, :4], snn, jets.CLASSES)


# ----------------------------------------------------------------------------- signed inputs
def test_negative_analog_input_is_an_inhibitory_current():
    """A class decided by the sign of one feature: the SNN must see the negative values."""
    model = nn.Sequential(nn.Linear(16, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[:, 0] = torch.tensor([-1.0, 1.0])  # neuron 0 fires for x0 < 0
        model[0].bias.zero_()
        model[2].weight.copy_(torch.eye(2))
        model[2].bias.zero_()
    x = torch.zeros(6, 16)
    x[:, 0] = torch.tensor([-0.9, -0.5, -0.2, 0.2, 0.5, 0.9])
    x[:, 1:] = torch.randn(6, 15, generator=torch.Generator().manual_seed(0))  # ignored
    net = ss.convert(model, x, percentile=100)
    rec = net.run(x, 100)
    assert torch.equal(rec.predictions(), torch.tensor([0, 0, 0, 1, 1, 1]))
    rates = rec.spike_counts[0].float() / 100
    expected = torch.relu(torch.stack([-x[:, 0], x[:, 0]], 1)) / net.lambdas[0]
    assert torch.allclose(rates, expected, atol=0.011), "first-layer rate != ReLU(z)/lambda"
    clipped = net.run(x.clamp(min=0), 100)  # what dropping negative features would do
    assert (clipped.predictions()[:3] != 0).all()


def test_signed_inputs_convert_correctly_on_the_fixture(trained, arff_file):
    _, model = trained
    d = jets.load_jets(arff_file)
    x, y = d.x_test, d.y_test
    assert (x < 0).any(1).all(), "every fixture jet should have negative features"
    comp = jets.compare(model, x, y, calibration=d.x_train, timesteps=200, percentile=100)
    assert comp.agreement() >= 0.975, (
        f"SNN reproduces only {comp.agreement():.1%} of the ANN's predictions on signed inputs")
    assert comp.snn_accuracy() >= comp.ann_accuracy - 0.025
    # the same SNN fed only the positive part of the features drifts away from the ANN
    clipped = comp.net.run(x.clamp(min=0), 200, record=()).predictions().numpy()
    assert (clipped == comp.ann_pred).mean() < comp.agreement() - 0.1, \
        "dropping the negative features made no difference: they were not used"


def test_pipeline_end_to_end(trained, arff_file):
    """load -> train -> convert -> SNN run -> confusion matrices -> words."""
    meta, model = trained
    d = jets.load_jets(arff_file)
    comp = jets.compare(model, d.x_test, d.y_test, calibration=d.x_train, timesteps=40)
    n = len(d.y_test)
    assert comp.cm_ann.shape == (5, 5) and comp.cm_ann.sum() == n
    assert comp.cm_snn().sum() <= n and comp.cm_snn(0).sum() <= n
    assert comp.ann_accuracy == pytest.approx(meta["test_accuracy"])
    curve = comp.accuracy_curve()
    assert curve.shape == (40,) and curve[-1] == pytest.approx(comp.snn_accuracy())
    assert curve[-1] >= curve[0]
    text = comp.words()
    assert text.startswith("Overall accuracy: ANN") and "SNN" in text
    assert comp.words(0) != text or comp.snn_accuracy(0) == comp.snn_accuracy()


# ----------------------------------------------------------------------------- view
def test_jets_view_builds_and_updates(trained, arff_file, monkeypatch):
    import panel as pn

    from widgets import jets as jets_view

    _, model = trained
    d = jets.load_jets(arff_file)
    comp = jets.compare(model, d.x_test[:40], d.y_test[:40], calibration=d.x_train,
                        timesteps=20)
    view = jets_view.JetsView(comp)
    assert view.t == 20
    root = pn.panel(view).get_root()
    assert root is not None
    before = view.words().object
    view.t = 1
    assert view.words().object != before and "after 1 steps" in view.words().object
    edp = view.edp_plot()
    if view.platform is not None:  # spikescope.energy is present
        assert not isinstance(edp, pn.pane.Alert), edp.object
    monkeypatch.setattr(jets_view, "_energy", lambda: None)
    plain = jets_view.JetsView(comp)
    assert plain.platform is None and "EDP needs" in plain.edp_plot().object
    from_file = jets_view.JetsView.from_file(arff_file, n_test=20, timesteps=10)
    assert from_file.comparison.labels.shape == (20,)
