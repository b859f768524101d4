"""Self-checking exercises of the teaching notebooks.

In a notebook: fill ``answer = ...`` in the exercise cell, then run the check cell,
``check("01.1", answer)``; it says right or wrong, and why. Every check computes the expected
answer itself from the spikescope core (or from the context it is given), never from a stored
number a student could copy.

Teachers: ``python notebooks/make_solutions.py OUT_DIR`` writes the notebooks with the
solutions filled in (kept in each exercise cell's metadata, ``spikescope.solution``). With
``STRICT = True`` (set by the solutions notebooks and the tests) a wrong answer raises.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STRICT = False
CHECKS: dict[str, Callable] = {}


@dataclass
class Verdict:
    """Right or wrong, and why. Shows as a coloured line in a notebook; truthy when right."""
    ok: bool
    why: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"{'RIGHT' if self.ok else 'NOT YET'} ({self.exercise}): {self.why}"

    def _repr_markdown_(self) -> str:
        mark = "✅ **Right.**" if self.ok else "❌ **Not yet.**"
        return f"{mark} (exercise {self.exercise}) {self.why}"


def exercise(key: str):
    def register(fn):
        CHECKS[key] = fn
        return fn
    return register


def check(key: str, answer, **context) -> Verdict:
    """Check ``answer`` to exercise ``key`` ("01.1", ...); ``context`` as the exercise says."""
    if key not in CHECKS:
        raise KeyError(f"unknown exercise {key!r}; available: {', '.join(sorted(CHECKS))}")
    if answer is ... or answer is None:
        v = Verdict(False, "no answer yet: replace `...` in the cell above and run it.", key)
    else:
        try:
            v = CHECKS[key](answer, **context)
        except (TypeError, ValueError) as e:
            v = Verdict(False, f"the answer has the wrong form ({e}).", key)
        v.exercise = key
    if STRICT and not v.ok:
        raise AssertionError(repr(v))
    return v


def _number(answer) -> float:
    x = float(answer)
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return x


def _close(answer, expected: float, tol: float, right: str, wrong: str) -> Verdict:
    x = _number(answer)
    if abs(x - expected) <= tol:
        return Verdict(True, right)
    return Verdict(False, f"you gave {x:g}. {wrong}")


# --- 01 one neuron -------------------------------------------------------------------------
def _simulate(current: float, steps: int = 200, **params) -> list[int]:
    import torch

    from spikescope.neurons import NeuronParams, if_step, init_state

    p = NeuronParams(**params)
    state = init_state((1,), p)
    spikes = []
    for t in range(steps):
        s, state = if_step(state, torch.tensor([current]), p)
        if s.item():
            spikes.append(t + 1)
    return spikes


@exercise("01.1")
def _leak_threshold(answer):
    # V converges to z / (1 - leak); it must reach theta = 1: z >= (1 - 0.9) * 1 = 0.1
    expected = (1 - 0.9) * 1.0
    fires_above = bool(_simulate(expected + 0.01, 400, leak=0.9))
    silent_below = not _simulate(expected - 0.01, 400, leak=0.9)
    assert fires_above and silent_below, "the neuron model disagrees with z/(1-leak) = theta"
    return _close(answer, expected, 0.006,
                  "V approaches z / (1 - leak); it reaches the threshold 1 only if "
                  "z >= (1 - 0.9) * 1 = 0.1 (the simulation agrees: 0.11 fires, 0.09 never).",
                  "Solve z / (1 - leak) = threshold for z with leak 0.9 and threshold 1: the "
                  "potential stops growing where the leak takes away as much as z adds.")


@exercise("01.2")
def _refractory_rate(answer):
    spikes = _simulate(5.0, 400, refractory=3)
    measured = len(spikes) / 400
    return _close(answer, measured, 0.01,
                  f"one spike, then 3 silent steps: at most 1/(3+1) = 0.25 spikes per step "
                  f"(the simulation gives {measured:.3f}).",
                  f"With a huge input the neuron fires as soon as it may: one step to fire, "
                  f"then r = 3 refractory steps. The simulation gives {measured:.3f}.")


@exercise("01.3")
def _reset_zero_count(answer):
    n = len(_simulate(0.3, 60, reset="zero"))
    x = _number(answer)
    if x == n:
        return Verdict(True, f"{n} spikes: reset to zero throws the surplus away, so the "
                             f"neuron fires every ceil(1/0.3) = 4 steps: floor(60/4) = 15.")
    return Verdict(False, f"you gave {x:g}. Reset to zero starts from 0 after every spike: "
                          "count the steps to reach 1 with 0.3 per step (not 1/0.3).")


# --- 02 ANN to SNN ---------------------------------------------------------------------------
@exercise("02.1")
def _saturated_rate(answer):
    return _close(answer, 1.0, 1e-6,
                  "a rate cannot exceed one spike per step: an activation above lambda is "
                  "clipped to rate 1 (the neuron saturates).",
                  "An IF neuron fires at most once per step. What is a/lambda clipped to?")


@exercise("02.2")
def _lambda_first_layer(answer, model=None, calibration=None):
    import spikescope as ss

    if model is None or calibration is None:
        from spikescope import datasets, zoo

        model = zoo.load("digits-cnn")
        calibration = datasets.load("digits", "train")[0][:500]
    lam = ss.convert(model, calibration, percentile=99.9).lambdas[0]
    return _close(answer, lam, 1e-3 * max(1.0, lam),
                  f"lambda_1 = {lam:.4f}: the 99.9th percentile of the first layer's non-zero "
                  "activations on the calibration images.",
                  "Take the first layer's ReLU outputs on the calibration images, keep the "
                  "non-zero ones, and take their 99.9th percentile (or read net.lambdas).")


# --- 03 spike codes --------------------------------------------------------------------------
@exercise("03.1")
def _ttfs_time(answer):
    import torch

    from spikescope.codes.encoders import encode

    s = encode(torch.tensor([[0.3]]), 12, "ttfs")[:, 0, 0]
    t = int(torch.nonzero(s)[0]) + 1
    return _close(answer, t, 0,
                  f"step {t} = ceil(1/0.3): the potential 0.3 per step reaches 1 at step 4.",
                  "TTFS fires once, at the step where a*t first reaches the threshold 1.")


@exercise("03.2")
def _pattern_value(answer):
    import torch

    from spikescope.codes.pattern import truncate

    v = float(truncate(torch.tensor([0.7]), 4)[0])
    return _close(answer, v, 1e-6,
                  f"trunc_4(0.7) = floor(0.7 * 16) / 16 = 11/16 = {v}: bits 1011.",
                  "The 4-bit word keeps floor(a * 2^4) / 2^4 of the value.")


@exercise("03.3")
def _pattern_spikes(answer):
    import torch

    from spikescope.codes.encoders import encode

    n = int(encode(torch.tensor([[0.7]]), 4, "pattern", bits=4).sum())
    return _close(answer, n, 0,
                  f"{n} spikes: the word 1011 has three ones (popcount), one spike per 1 bit.",
                  "Write 11/16 in binary with 4 bits and count the ones.")


# --- 04 energy and delay ---------------------------------------------------------------------
@exercise("04.1")
def _edp_thesis(answer):
    from spikescope import energy

    v = energy.edp(12.06e-3, 6.65e-3) * 1e6
    return _close(answer, v, 0.05,
                  f"EDP = 12.06 mJ x 6.65 ms = {v:.1f} uJ s (thesis Table 3.4).",
                  "Multiply energy (J) by delay (s), then convert J s to uJ s (x 1e6).")


@exercise("04.2")
def _loihi_energy(answer):
    from spikescope import energy

    v = 1e5 * energy.PLATFORMS["Loihi"].energy_per_sop_j * 1e6
    return _close(answer, v, 1e-3 * v,
                  f"{v:.2f} uJ: 1e5 synaptic ops x {energy.PLATFORMS['Loihi'].energy_per_sop_j:g}"
                  " J per op (dynamic energy only, no static power).",
                  "energy = number of synaptic ops x joules per op (energy.PLATFORMS['Loihi']"
                  ".energy_per_sop_j), then J -> uJ.")


@exercise("04.3")
def _edp_doubling(answer):
    return _close(answer, 4.0, 1e-6,
                  "at constant activity E grows like t and D like t, so EDP ~ t^2: twice the "
                  "steps, four times the EDP.",
                  "Write E(t) = e n t and D(t) = Delta t; what happens to E * D when t doubles?")


# --- 05 event cameras ------------------------------------------------------------------------
@exercise("05.1")
def _on_events(answer):
    n = math.floor(math.log(0.8 / 0.2) / 0.2 + 1e-9)
    return _close(answer, n, 0,
                  f"log(0.8/0.2) = {math.log(4):.3f}; every C = 0.2 of it is one ON event: "
                  f"{n} events (the rest, below C, waits for more change).",
                  "Count how many whole contrast thresholds C fit in log(I_new / I_old).")


@exercise("05.2")
def _events_vs_threshold(answer, image=None):
    from spikescope import dvs

    if image is None:
        from spikescope import datasets

        image = datasets.load("digits-events", "test", target="image")[1][0, 0].numpy()
    ratio = len(dvs.emulate(image, threshold=0.4)) / len(dvs.emulate(image, threshold=0.2))
    return _close(answer, ratio, 0.01,
                  f"ratio {ratio:.2f}: doubling C roughly halves the events of an edge "
                  "(each event stands for twice the change), faint edges drop out entirely.",
                  "Emulate the digit with threshold=0.4 and threshold=0.2 and divide the "
                  "numbers of events.")


# --- 06 dashboard ----------------------------------------------------------------------------
@exercise("06.1")
def _session_ttfs(answer, session=None):
    if session is None:
        raise ValueError("pass session=session")
    if session.code != "ttfs" or session.encoding != "ttfs":
        return Verdict(False, "set session.code = 'ttfs' and session.encoding = 'ttfs' first.")
    n = session.spikes_at(session.timesteps)
    return _close(answer, n, 0,
                  f"{n} spikes over the whole run: each neuron fires at most once with TTFS.",
                  "Read session.spikes_at(session.timesteps) after switching the code.")


@exercise("06.2")
def _ops_per_spike(answer):
    return _close(answer, 10 * 32, 0,
                  "each spike costs one synaptic operation per target: 10 spikes x 32 "
                  "targets = 320 ops.",
                  "Synaptic ops = spikes x fan-out.")


# --- 07 learning rules -----------------------------------------------------------------------
@exercise("07.1")
def _manhattan(answer):
    import torch

    g = torch.tensor([0.3, -2.0, 0.0])
    expected = (-0.01 * torch.sign(g)).numpy()
    got = np.asarray(answer, dtype=float).reshape(-1)
    if got.shape == expected.shape and np.allclose(got, expected):
        return Verdict(True, "the Manhattan rule keeps only the sign: -eta sign(g) = "
                             f"{np.round(expected, 6).tolist()} "
                             "(a zero gradient leaves w unchanged).")
    return Verdict(False, f"you gave {got.tolist()}. Delta w = -eta * sign(dE/dw) with "
                          "eta = 0.01: the size of the gradient does not matter.")


@exercise("07.2")
def _sf_decode(answer):
    expected = 0.0 + 0.5 * (1 + 1 - 1 + 1)
    return _close(answer, expected, 1e-6,
                  f"x0 + theta * sum(s) = 0 + 0.5 * 2 = {expected}.",
                  "Decode as x_hat = x0 + theta * (sum of the signed spikes).")


@exercise("07.3")
def _sf_ramp(answer):
    import torch

    from spikescope.codes.signal_encoders import encode_signal

    ramp = torch.linspace(0, 1, 100)
    n = int(encode_signal(ramp, "sf", 0.1)["spike_count"])
    return _close(answer, n, 0,
                  f"{n} spikes: each spike lifts the baseline by 0.1, and a spike needs the signal "
                  "to exceed baseline + 0.1, so the count stays just under 1 / 0.1 = 10.",
                  "Run encode_signal(torch.linspace(0, 1, 100), 'sf', 0.1) and read "
                  "'spike_count', or count how often a rise of 0.1 fits in 1.")


# --- 08 jet tagging --------------------------------------------------------------------------
TOY_CONFUSION = np.array([[80, 15, 2, 2, 1],
                          [12, 84, 2, 1, 1],
                          [3, 2, 70, 22, 3],
                          [2, 1, 25, 68, 4],
                          [1, 1, 4, 5, 89]])


@exercise("08.1")
def _most_confused(answer, confusion=TOY_CONFUSION, classes=("g", "q", "w", "z", "t")):
    c = np.asarray(confusion, dtype=float)
    sym = c + c.T
    np.fill_diagonal(sym, -1)
    i, j = np.unravel_index(np.argmax(sym), sym.shape)
    pair = {classes[i], classes[j]}
    got = {str(a).lower() for a in answer}
    if got == pair:
        return Verdict(True, f"{classes[i]} <-> {classes[j]}: {int(sym[i, j])} jets swapped "
                             "either way, the largest off-diagonal pair.")
    return Verdict(False, f"you gave {sorted(got)}. Add the matrix to its transpose and find "
                          "the largest entry off the diagonal.")


@exercise("08.2")
def _w_accuracy(answer, confusion=TOY_CONFUSION):
    c = np.asarray(confusion, dtype=float)
    acc = c[2, 2] / c[2].sum()
    return _close(answer, acc, 5e-3,
                  f"{acc:.3f}: the diagonal entry of row W over the row's sum.",
                  "Per-class accuracy = diagonal entry / sum of its row (rows are true classes).")
