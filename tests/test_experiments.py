"""Error vs operations across codes, and the shared run()/step()/Recording API of all codes."""

import numpy as np
import pytest
import torch

import spikescope as ss
from spikescope.codes.encoders import encode
from spikescope.experiments import COLUMNS, error_vs_ops
from spikescope.sim.recording import Recording
from widgets.tradeoff_plot import plot_error_vs_ops

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors

ENCODING = {"rate": "analog", "ttfs": "ttfs", "ttfs-dyn-thresh": "analog",
            "ttfs-clamped": "ttfs", "pattern": "pattern"}



def test_every_code_is_registered():
    assert {"rate", "ttfs", "ttfs-dyn-thresh", "ttfs-clamped", "pattern"} <= set(ss.CODES)


@pytest.mark.parametrize("code", sorted(ENCODING))
def test_codes_share_run_step_and_recording(digits, digits_cnn, code):
    xtr, _, x, y = digits
    x, y, T = x[:12], y[:12], 16
    net = ss.convert(digits_cnn, xtr[:256], code=code, bits=4)
    assert isinstance(net, ss.SpikingNetwork) and net.code == code
    rec = net.run(x, T, encoding=ENCODING[code])
    net.reset(len(x))
    for x_t in encode(x, T, ENCODING[code], bits=4):
        net.step(x_t)
    stepped = net.recording
    for r in (rec, stepped):
        assert isinstance(r, Recording) and r.timesteps == T
        assert len(r.spike_counts) == len(r.spike_trains) == len(net.layer_names)
        assert r.output_counts.shape == (T, len(x), 10) and r.synaptic_ops.shape == (T,)
        assert r.layer_ops.shape == (T, len(net.layer_names) + 1)
        assert r.membrane[0].shape[:2] == (T, len(x))
        assert r.predictions().shape == (len(x),) and r.accuracy_curve(y).shape == (T,)
        assert np.all(np.diff(r.synaptic_ops.numpy()) >= 0)
    for a, b in zip(rec.spike_counts, stepped.spike_counts):
        assert torch.equal(a, b)
    torch.testing.assert_close(rec.synaptic_ops, stepped.synaptic_ops)
    torch.testing.assert_close(rec.output_potential, stepped.output_potential)
    assert torch.equal(rec.all_predictions(), stepped.all_predictions())


@pytest.fixture(scope="module")
def table(digits, digits_mlp):
    xtr, ytr, x, y = digits
    return error_vs_ops(digits_mlp, xtr[:512], x[:120], y[:120], y_cal=ytr[:512],
                        rate_steps=(5, 20, 60), ttfs_steps=(4, 16, 32), bits=(3, 6, 16),
                        finetune_epochs=2, beta=0.2)


def test_error_vs_ops_table(table, digits, digits_mlp):
    _, _, x, y = digits
    assert list(table.columns) == COLUMNS
    assert set(table["code"]) == {"ann", "rate", "ttfs", "ttfs-dyn-thresh", "ttfs-clamped",
                                  "pattern"}
    ann = table[table["code"] == "ann"].iloc[0]
    with torch.no_grad():
        ann_err = float((digits_mlp(x[:120]).argmax(1) != y[:120]).float().mean())
    assert ann["error"] == pytest.approx(ann_err) and ann["ops"] == ann["ann_ops"] > 0
    pat = table[table["code"] == "pattern"].set_index("bits")
    assert pat.loc[16, "error"] == pytest.approx(ann_err), "16-bit pattern code != ANN error"
    assert pat.loc[16, "steps"] == 3 * 16
    assert pat["synaptic_ops"].is_monotonic_increasing, "more bits should cost more ops"
    rate = table[table["code"] == "rate"]
    assert rate["steps"].tolist() == [5, 20, 60] and rate["synaptic_ops"].is_monotonic_increasing
    ttfs = table[table["code"] == "ttfs"].iloc[-1]
    assert ttfs["synaptic_ops"] < rate["synaptic_ops"].iloc[-1]
    assert ttfs["spikes"] <= sum(ss.convert(digits_mlp, x[:8]).n_neurons)
    dyn = table[table["code"] == "ttfs-dyn-thresh"]
    assert (dyn["threshold_update_ops"] > 0).all()
    assert np.allclose(table["ops_ratio"], table["ann_ops"] / table["ops"])


def test_plot_error_vs_ops(table):
    import holoviews as hv

    plot = plot_error_vs_ops(table)
    assert isinstance(plot, hv.Overlay)
    labels = {el.label for el in plot}
    assert {"ann", "rate", "pattern"} <= labels
    assert any(lab.startswith("ttfs-dyn-thresh") for lab in labels)
