"""Temporal pattern code: layer-wise exactness, LSB truncation, digits equal to the ANN."""

import pytest
import torch

import spikescope as ss
from spikescope.codes.encoders import encode
from spikescope.codes.pattern import PatternRecording

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors



def trunc(a: torch.Tensor, n: int) -> torch.Tensor:
    """Reference n-bit truncation of [0, 1): floor(a 2^n) / 2^n, saturating at 1 - 2^-n."""
    scale = 2.0 ** n
    return torch.clamp(torch.floor(a.clamp(min=0) * scale), max=scale - 1) / scale


def reference_potentials(net, x, bits_in):
    """ANN pre-activations per layer computed from inputs truncated to ``bits_in[l]`` bits."""
    h, out = x, []
    for l, s in enumerate(net.stages):
        h = trunc(h, bits_in[l])
        for op in s.pre:
            h = op(h)
        z = s.synapse(h)
        out.append(z.reshape(len(x), -1))
        h = torch.relu(z)
    return out


def test_encoder_sends_bits_msb_first():
    # thesis Sec. 2.3.2: 9 = 00001001 in 8 bits -> spikes at steps 5 and 8
    s = encode(torch.tensor([[9 / 256]]), 10, "pattern", bits=8)
    assert s[:, 0, 0].nonzero().flatten().add(1).tolist() == [5, 8]
    s = encode(torch.tensor([[1.0]]), 6, "pattern", bits=4)  # saturates at 1 - 2^-4
    assert s[:, 0, 0].tolist() == [1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize("model_name", ["digits-cnn", "digits-mlp"])
@pytest.mark.parametrize("n", [4, 8, 16])
def test_every_layer_equals_the_ann_of_truncated_inputs(digits, model_name, n, request):
    xtr, _, x, _ = digits
    net = ss.convert(request.getfixturevalue(model_name.replace("-", "_")), xtr[:512],
                     code="pattern", bits=n, percentile=100)
    x = x[:64]
    rec = net.run(x, record=("membrane",))
    assert rec.timesteps == net.inference_steps == len(net.stages) * n
    ref = reference_potentials(net, x, [n] * len(net.stages))
    for l, (name, z) in enumerate(zip(net.layer_names, ref)):
        u = rec.membrane[l][(l + 1) * n - 1]  # end of layer l's window
        torch.testing.assert_close(u, z, rtol=1e-5, atol=1e-4,
                                   msg=lambda m, name=name: f"{name}, n={n}: {m}")


@pytest.mark.parametrize("model_name", ["digits-cnn", "digits-mlp"])
def test_16_bit_predictions_equal_the_ann_on_the_whole_test_set(digits, model_name, request):
    xtr, _, x, y = digits
    model = request.getfixturevalue(model_name.replace("-", "_"))
    net = ss.convert(model, xtr, code="pattern", bits=16, percentile=100)
    rec = net.run(x, record=())
    with torch.no_grad():
        ann = model(x).argmax(1)
    mismatch = int((rec.predictions() != ann).sum())
    assert mismatch == 0, f"{mismatch} of {len(x)} predictions differ from the ANN at n = 16"
    assert rec.accuracy_curve(y)[-1] == pytest.approx(float((ann == y).float().mean()))


def test_k_of_n_steps_equals_dropping_lsbs(digits, digits_cnn):
    xtr, _, x, _ = digits
    n = 8
    net = ss.convert(digits_cnn, xtr[:512], code="pattern", bits=n, percentile=100)
    x = x[:32]
    rec = net.run(x, record=("membrane",))
    L = len(net.stages)
    full = reference_potentials(net, x, [n] * L)
    for k in range(1, n + 1):
        # k steps into window l: layer l has seen the k MSBs of layer l-1's n-bit pattern
        for l in range(L):
            if l == 0:
                z = reference_potentials(net, x, [k] + [n] * (L - 1))[0]
            else:  # inputs to layer l: the full-precision layer l-1 output truncated to k bits
                h = trunc(torch.relu(full[l - 1]).reshape(len(x), *net.stages[l - 1].out_shape),
                          k)
                for op in net.stages[l].pre:
                    h = op(h)
                z = net.stages[l].synapse(h).reshape(len(x), -1)
            torch.testing.assert_close(rec.membrane[l][l * n + k - 1], z, rtol=1e-5, atol=1e-4,
                                       msg=lambda m, l=l, k=k: f"layer {l}, k={k}: {m}")
        # stopping the run k steps into the output window = output of LSB-dropped inputs
        short = net.run(x, (L - 1) * n + k, record=())
        assert torch.equal(short.predictions(), z.argmax(1)), f"k={k}: predictions differ"


def test_fewer_bits_drop_lsbs_in_every_layer(digits, digits_mlp):
    xtr, _, x, _ = digits
    x = x[:64]
    for k in (2, 3, 5):
        net = ss.convert(digits_mlp, xtr[:512], code="pattern", bits=k, percentile=100)
        rec = net.run(x, record=("membrane",))
        ref = reference_potentials(net, x, [k] * len(net.stages))
        torch.testing.assert_close(rec.output_potential[-1], ref[-1], rtol=1e-5, atol=1e-4)


def test_spikes_are_the_one_bits_and_ops_count_fan_out(digits, digits_cnn):
    xtr, _, x, _ = digits
    n = 6
    net = ss.convert(digits_cnn, xtr[:512], code="pattern", bits=n, percentile=100)
    x = x[:16]
    rec = net.run(x)
    assert isinstance(rec, PatternRecording)
    ref = reference_potentials(net, x, [n] * len(net.stages))
    for l in range(len(net.stages) - 1):
        q = torch.clamp(torch.floor(torch.relu(rec.membrane[l][(l + 1) * n - 1]) * 2 ** n),
                        max=2 ** n - 1).long()
        ones = sum(((q >> b) & 1) for b in range(n))
        assert torch.equal(rec.spike_counts[l].long(), ones), f"layer {l}: spikes != one bits"
        tr = rec.spike_trains[l]
        assert not tr[: (l + 1) * n].any() and not tr[(l + 2) * n:].any(), \
            f"layer {l} spiked outside its emission window"
        ops = (rec.spike_counts[l].float() @ net.fan_outs[l]).mean()
        torch.testing.assert_close(rec.layer_ops[:, l + 1].sum(), ops)
    assert int(rec.spike_counts[-1].sum()) == 0, "the output layer is read out, not spiking"
    in_bits = encode(x, n, "pattern", bits=n).reshape(n, len(x), -1)
    torch.testing.assert_close(rec.layer_ops[:, 0].sum(),
                               (in_bits.sum(0) @ net.input_fan_out).mean())
    preds = rec.all_predictions()
    start = (len(net.stages) - 1) * n
    assert (preds[:start] == -1).all() and (preds[start:] >= 0).all()
    assert torch.equal(preds[-1], ref[-1].argmax(1))


def test_run_equals_stepping_and_analog_means_pattern(digits, digits_cnn):
    xtr, _, x, _ = digits
    net = ss.convert(digits_cnn, xtr[:512], code="pattern", bits=5)
    x = x[:16]
    rec = net.run(x, 22)
    analog = net.run(x, 22, encoding="analog")
    net.reset(16)
    for x_t in encode(x, 22, "pattern", bits=5):
        net.step(x_t)
    stepped = net.recording
    for other in (analog, stepped):
        for a, b in zip(rec.spike_trains, other.spike_trains):
            assert torch.equal(a, b)
        torch.testing.assert_close(rec.output_potential, other.output_potential)
        torch.testing.assert_close(rec.synaptic_ops, other.synaptic_ops)
        assert torch.equal(rec.all_predictions(), other.all_predictions())


def test_bad_options_raise():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2))
    cal = torch.rand(4, 2)
    with pytest.raises(ValueError, match="bits"):
        ss.convert(m, cal, code="pattern", bits=0)
    with pytest.raises(ValueError, match="membrane"):
        ss.convert(m, cal, code="pattern", readout="spikes")
    with pytest.raises(ValueError, match="encoding"):
        ss.convert(m, cal, code="pattern").run(cal, 4, encoding="poisson")
