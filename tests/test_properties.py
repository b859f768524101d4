"""Property-based tests (hypothesis): encoders, conversion invariants, loader robustness."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save as st_save
from torch import nn

import spikescope as ss
from spikescope import io as sio
from spikescope import zoo
from spikescope.codes.encoders import encode
from spikescope.neurons import NeuronParams, if_step, init_state

FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mlp(seed: int, bn: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(16, 12)]
    if bn:
        layers.append(nn.BatchNorm1d(12))
    layers += [nn.ReLU(), nn.Linear(12, 5)]
    model = nn.Sequential(*layers)
    if bn:
        model[2].running_mean.uniform_(-0.5, 0.5)
        model[2].running_var.uniform_(0.5, 2.0)
        model[2].weight.data.uniform_(0.5, 1.5)
    return model.eval()


images = st.integers(0, 2**31 - 1).map(
    lambda s: torch.rand((3, 1, 4, 4), generator=torch.Generator().manual_seed(s)))


# ----------------------------------------------------------------------------- encoders
@FAST
@given(x=images, t=st.integers(1, 20))
def test_analog_encoder_repeats_the_input(x, t):
    enc = encode(x, t, "analog")
    assert enc.shape == (t, *x.shape)
    assert torch.equal(enc, x.expand(t, *x.shape))


@FAST
@given(x=images, t=st.integers(1, 30), rate=st.floats(1.0, 1000.0), seed=st.integers(0, 99))
def test_poisson_encoder_is_binary_seeded_and_silent_for_zero(x, t, rate, seed):
    enc = encode(x, t, "poisson", max_rate_hz=rate, seed=seed)
    assert enc.shape == (t, *x.shape)
    assert set(enc.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(enc, encode(x, t, "poisson", max_rate_hz=rate, seed=seed))
    assert encode(torch.zeros_like(x), t, "poisson", max_rate_hz=rate, seed=seed).sum() == 0
    full = encode(torch.ones_like(x), t, "poisson", max_rate_hz=1000.0, dt_ms=1.0, seed=seed)
    assert bool((full == 1).all()), "p = 1 per step must spike every step"


# ----------------------------------------------------------------------------- conversion
@FAST
@given(seed=st.integers(0, 10_000), percentile=st.floats(1.0, 100.0), bn=st.booleans())
def test_normalization_preserves_ann_predictions(seed, percentile, bn):
    model = _mlp(seed, bn)
    x = torch.rand((20, 1, 4, 4), generator=torch.Generator().manual_seed(seed))
    net = ss.convert(model, x, percentile=percentile)
    with torch.no_grad():
        ann = model(x)
    norm = net.ann_forward(x)
    assert torch.equal(ann.argmax(1), norm.argmax(1))
    # the output layer is the original divided by lambda_L > 0
    torch.testing.assert_close(norm * net.lambdas[-1], ann, atol=1e-4, rtol=1e-4)


@FAST
@given(seed=st.integers(0, 10_000), t=st.integers(1, 25), threshold=st.floats(0.05, 2.0),
       leak=st.floats(0.5, 1.0), reset=st.sampled_from(["subtract", "zero"]),
       refractory=st.integers(0, 3), gain=st.floats(0.5, 20.0))
def test_spike_counts_never_exceed_t_and_ops_are_monotone(seed, t, threshold, leak, reset,
                                                          refractory, gain):
    model = _mlp(seed)
    with torch.no_grad():
        model[1].weight.mul_(gain)  # strong drive: many neurons want to fire every step
    x = torch.rand((4, 1, 4, 4), generator=torch.Generator().manual_seed(seed))
    net = ss.convert(model, x, percentile=None, threshold=threshold, leak=leak, reset=reset,
                     refractory=refractory)
    rec = net.run(x, t)
    for l, c in enumerate(rec.spike_counts):
        assert int(c.min()) >= 0 and int(c.max()) <= t, \
            f"layer {l}: a neuron spiked {int(c.max())} times in {t} steps"
        if refractory:
            assert int(c.max()) <= -(-t // (refractory + 1))
    ops = rec.synaptic_ops
    assert ops.shape == (t,) and bool((ops >= 0).all())
    assert bool((ops[1:] >= ops[:-1]).all()), "cumulative synaptic ops decreased in time"
    assert bool((rec.output_counts[1:] >= rec.output_counts[:-1]).all())


@FAST
@given(v0=st.floats(-3, 3), current=st.floats(-3, 3), threshold=st.floats(0.1, 2.0),
       leak=st.floats(0.1, 1.0), reset=st.sampled_from(["subtract", "zero"]))
def test_if_step_emits_binary_spikes(v0, current, threshold, leak, reset):
    p = NeuronParams(threshold=threshold, leak=leak, reset=reset)
    state = init_state((1,), p)
    state.v.fill_(v0)
    s, state = if_step(state, torch.tensor([current]), p)
    v = leak * v0 + current
    assert float(s) == float(v >= threshold)


# ----------------------------------------------------------------------------- loader fuzzing
def _valid_files() -> dict[str, bytes]:
    model = zoo.load("digits-mlp")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    ts = io.BytesIO()
    torch.jit.save(torch.jit.script(model), ts)
    w = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
        initializer=[numpy_helper.from_array(w, "w")])
    onnx_bytes = helper.make_model(graph).SerializeToString()
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    return {"onnx": onnx_bytes, "safetensors": st_save(sd),
            "torch": buf.getvalue(), "torchscript": ts.getvalue()}


FILES = _valid_files()


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=0, max_size=400),
       prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02", b"\x08\x07", b"(",
                               (64).to_bytes(8, "little") + b"{"]))
def test_random_bytes_never_crash_the_loader(data, prefix):
    try:
        sio.load_model(prefix + data)
    except (ValueError, ss.ConversionError):
        pass  # ModelLoadError/UnsafeModelError/ConversionError are ValueErrors


@pytest.mark.parametrize("fmt", sorted(FILES))
@settings(max_examples=12, deadline=None)
@given(where=st.floats(0.0, 1.0, exclude_max=True), byte=st.integers(0, 255),
       cut=st.booleans())
def test_damaged_files_load_or_fail_cleanly(fmt, where, byte, cut):
    data = bytearray(FILES[fmt])
    i = int(where * len(data))
    if cut:
        data = data[:i]
    else:
        data[i] = byte
    try:
        model = sio.load_model(bytes(data))
    except (ValueError, ss.ConversionError):
        return
    # a file that still loads gives a usable model with finite weights
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    with torch.no_grad():
        assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
