"""Membrane replay: one layer's membrane potential over a recorded run, recomputed from what
the run recorded, without running the network again.

With zero-delay propagation (:mod:`spikescope.sim.network`) layer l's input current in step t
depends only on its sources' spikes in step t (the encoded input for a layer that reads it)
and on the spiking max-pool gates, which count those same spikes. A recording keeps every
layer's spike train, so stepping layer l alone through the T steps with the code's own hooks
(``Code.layer_current``, ``Code.neuron_step``: the exact-sum weights, clamp delay, reset mode,
neuron model, membrane readout) gives the membrane the run had, bit for bit: the same
operations on the same values as :meth:`SpikingNetwork.step`, which the layer-by-layer path
equals. Codes with their own per-step hooks (TTFS, pattern) keep state across layers that a
recording does not hold, and graded spikes are recorded only as "spiked": those runs cannot be
replayed (:func:`replayable`), run them again instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import ParameterError
from .graph import INPUT, gather
from .recording import Recording
from .state import RunState

if TYPE_CHECKING:
    from .network import SpikingNetwork

__all__ = ["replay_layer", "replay_membrane", "replayable"]


def replayable(net: SpikingNetwork) -> bool:
    """Whether :func:`replay_membrane` can recompute ``net``'s membranes from a recording: a
    code with the base per-step hooks (rate, direct) and binary spikes in every layer."""
    return net.spike_code.layerwise() and all(m.binary for m in net.layer_neurons)


def replay_membrane(net: SpikingNetwork, recording: Recording, inputs: torch.Tensor,
                    layer: int, neurons: Sequence[int]) -> torch.Tensor:
    """(T, B, len(neurons)) membrane potential after every step of ``neurons`` (flat
    indices) of ``layer``, as ``net.run`` would have recorded it for the run of ``recording``
    (its spike trains) on the encoded ``inputs`` (T, B, ...): see the module docstring and
    :func:`replay_layer`."""
    return replay_layer(net, recording, inputs, layer, neurons)[0]


@torch.no_grad()
def replay_layer(net: SpikingNetwork, recording: Recording, inputs: torch.Tensor,
                 layer: int, neurons: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(membrane, spikes)``, each (T, B, len(neurons)): the membrane after every step and
    the spikes of ``neurons`` of ``layer`` replayed from ``recording`` and ``inputs`` (the
    spikes equal the recorded ones where the replay is right: a check of it).

    ParameterError when the network cannot be replayed (:func:`replayable`), ValueError when
    the recording has no spike trains, or ``inputs``, ``layer`` or ``neurons`` do not fit.
    """
    if not replayable(net):
        raise ParameterError(f"membranes of a {net.code!r}-code network with "
                             f"{net.neuron.name!r} neurons cannot be replayed from its spikes "
                             f"(own per-step code hooks or graded spikes): run it again with "
                             f"record=('spikes', 'membrane') and neurons={{layer: [...]}}")
    trains = recording.spike_trains
    if trains is None:
        raise ValueError("the recording has no spike trains (record=('spikes', ...)): "
                         "nothing to replay a membrane from")
    L = len(net.stages)
    if not (isinstance(layer, int) and 0 <= layer < L):
        raise ValueError(f"layer must be an index in 0..{L - 1}, got {layer!r}")
    T, B = recording.timesteps, recording.batch_size
    stage, n = net.stages[layer], net.n_neurons[layer]
    idx = torch.as_tensor(list(neurons), dtype=torch.long, device=net.device)
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"neuron index out of range for layer {layer} ({stage.name}, "
                         f"{n} neurons)")
    sources = sorted({i for term in stage.terms() for i in term.sources})
    if INPUT in sources:
        inputs = net.check_input(inputs, time_major=True)
        if tuple(inputs.shape[:2]) != (T, B):
            raise ValueError(f"inputs have {tuple(inputs.shape[:2])} steps and samples; the "
                             f"recording has ({T}, {B})")

    def spikes(i: int, t: int) -> torch.Tensor:
        if i == INPUT:
            return inputs[t]
        return trains[i][t].to(torch.float32).reshape(B, *net.stages[i].out_shape)

    code = net.spike_code
    states = [None] * L
    states[layer] = net.layer_neurons[layer].init_state((B, *stage.out_shape),
                                                        device=net.device)
    run = RunState(batch=B, neurons=states, recorder=None)  # records nothing
    code.start(run)
    membrane = torch.empty(T, B, len(idx), device=net.device)
    fired = torch.empty(T, B, len(idx), dtype=torch.bool, device=net.device)
    for t in range(T):
        run.t = t
        run.outputs = {i: spikes(i, t) for i in sources}
        current = code.layer_current(run, layer, gather(run.outputs, stage.sources))
        h = code.neuron_step(run, layer, current)
        membrane[t] = run.neurons[layer].v.reshape(B, -1)[:, idx]
        fired[t] = h.reshape(B, -1)[:, idx] > 0
    return membrane, fired
