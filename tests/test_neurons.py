import math

import pytest
import torch

from spikescope.neurons import NeuronParams, if_step, init_state, rate_current_curve


def run_const(z, T, params):
    z = torch.as_tensor(z, dtype=torch.float32)
    state = init_state(tuple(z.shape), params)
    count = torch.zeros_like(z)
    for _ in range(T):
        s, state = if_step(state, z, params)
        count += s
    return count


def test_subtract_reset_fires_floor_zT():
    """Reset by subtraction: a constant current z in [0, 1] gives floor(z*T) spikes (+-1)."""
    T = 200
    z = torch.linspace(0, 1, 1001)
    counts = run_const(z, T, NeuronParams(reset="subtract"))
    expected = torch.floor(z.double() * T)
    assert (counts.double() - expected).abs().max() <= 1
    dyadic = torch.tensor([0.0, 0.25, 0.5, 0.125, 0.75, 1.0])
    assert torch.equal(run_const(dyadic, T, NeuronParams()), torch.floor(dyadic * T))


def test_zero_reset_fires_floor_T_over_ceil():
    """Reset to zero: floor(T / ceil(1/z)) spikes, the rate loss of eq. 2.4c."""
    T = 100
    for z in [0.05, 0.1, 0.3, 0.34, 0.5, 0.7, 0.9, 1.0]:
        count = int(run_const([z], T, NeuronParams(reset="zero"))[0])
        assert count == T // math.ceil(1 / z - 1e-6), f"z={z}: {count} spikes"


def test_rates_converge_to_relu_within_one_over_T():
    z = torch.linspace(-0.5, 1.0, 301)
    for T in (10, 50, 200):
        rate = rate_current_curve(z, T)
        err = (rate - z.clamp(0, 1)).abs().max()
        assert err <= 1 / T + 1e-6, f"T={T}: error {err} > 1/T"


def test_leak_lowers_rate_and_refractory_caps_it():
    z = torch.full((1,), 0.6)
    base = run_const(z, 100, NeuronParams())
    leaky = run_const(z, 100, NeuronParams(leak=0.8))
    assert leaky < base
    refr = run_const(torch.full((1,), 1.0), 100, NeuronParams(refractory=3))
    assert int(refr) == 25  # one spike, then 3 silent steps: 1 spike per 4 steps


def test_graded_spikes_count_multiple_thresholds():
    params = NeuronParams(graded=True)
    state = init_state((1,), params)
    s, state = if_step(state, torch.tensor([3.7]), params)
    assert s.item() == 3 and state.v.item() == pytest.approx(0.7, abs=1e-6)


@pytest.mark.parametrize("bad", [dict(threshold=0), dict(threshold=float("nan")),
                                 dict(leak=0), dict(leak=1.5), dict(reset="soft"),
                                 dict(refractory=-1), dict(refractory=1.5)])
def test_bad_parameters_raise(bad):
    with pytest.raises(ValueError):
        NeuronParams(**bad)
