"""A network as a graph of stages: sources, the ANN forward pass, exact fan-outs.

Stages are kept in topological order; stage l reads the outputs of its ``sources`` (earlier
stages, or -1 for the network input), concatenated along the channel axis. A residual
addition is a stage with several synaptic terms (its ``branches``), a concatenation a stage
with several sources. Propagation has zero delay, as in a chain: within one time step every
stage integrates the spikes its sources emitted in that same step.
"""

from __future__ import annotations

import torch

from .stages import Stage, fan_out

INPUT = -1
"""The source index of the network input."""


def link(stages: list[Stage]) -> list[Stage]:
    """Fill every stage's (and branch's) unset ``sources`` with the previous stage (a
    chain) and check that each reads only earlier stages; returns ``stages``."""
    if not stages:
        raise ValueError("a network needs at least one stage")
    for l, s in enumerate(stages):
        for term in s.terms():
            if term.sources is None:
                term.sources = (l - 1,)
            term.sources = tuple(int(i) for i in term.sources)
            if not term.sources or any(i < INPUT or i >= l for i in term.sources):
                raise ValueError(f"stage {l} ({s.name}) reads sources {term.sources}; a stage "
                                 f"reads earlier stages (0..{l - 1}) or the input (-1)")
    return stages


def is_chain(stages: list[Stage]) -> bool:
    """Whether every stage reads just the one before it, with no branches."""
    return all(s.sources in (None, (l - 1,)) and not s.branches for l, s in enumerate(stages))


def gather(outputs: dict[int, torch.Tensor], sources: tuple[int, ...], dim: int = 1
           ) -> torch.Tensor:
    """The sources' outputs, concatenated along ``dim`` (the channel axis)."""
    if len(sources) == 1:
        return outputs[sources[0]]
    return torch.cat([outputs[i] for i in sources], dim)


def last_use(stages: list[Stage]) -> dict[int, int]:
    """For each source (and the input), the last stage that reads it."""
    last: dict[int, int] = {}
    for l, s in enumerate(stages):
        for term in s.terms():
            for i in term.sources:
                last[i] = l
    return last


def stage_forward(stage: Stage, outputs: dict[int, torch.Tensor]) -> torch.Tensor:
    """ANN forward of one stage from its sources' outputs: every term, summed, then ReLU."""
    z = None
    for term in stage.terms():
        h = gather(outputs, term.sources)
        for op in term.pre:
            h = op(h)
        y = term.synapse(h, bias=term is stage)
        z = y if z is None else z + y
    return torch.relu(z) if stage.relu else z


def forward(stages: list[Stage], x: torch.Tensor) -> list[torch.Tensor]:
    """ANN outputs of every stage for input ``x`` (ReLU applied where the ANN has one)."""
    outputs = {INPUT: x}
    for l, s in enumerate(stages):
        outputs[l] = stage_forward(s, outputs)
    return [outputs[l] for l in range(len(stages))]


@torch.no_grad()
def stage_activations(stages: list[Stage], x: torch.Tensor,
                      batch_size: int = 512) -> list[torch.Tensor]:
    """ANN activations after each stage (ReLU applied), flattened to (B, N) per stage."""
    outs: list[list[torch.Tensor]] = [[] for _ in stages]
    for i in range(0, len(x), batch_size):
        for l, h in enumerate(forward(stages, x[i:i + batch_size])):
            outs[l].append(torch.relu(h).reshape(len(h), -1))
    return [torch.cat(o) for o in outs]


def source_channels(stages: list[Stage], term: Stage) -> list[int]:
    """Channels each of ``term``'s sources contributes to its (concatenated) input."""
    sizes = [stages[i].out_shape[0] if i != INPUT else None for i in term.sources]
    if None in sizes:
        sizes[sizes.index(None)] = term.in_shape[0] - sum(c for c in sizes if c is not None)
    return sizes


def fan_outs(stages: list[Stage]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Exact fan-out of every input element and of every neuron of every stage (flat), summed
    over all the terms that read it (thesis Sec. 2.1.2.5); the output stage's is 0 unless
    another stage reads it."""
    totals = {l: torch.zeros(s.n_neurons, dtype=s.weight.dtype) for l, s in enumerate(stages)}
    totals[INPUT] = None
    for s in stages:
        for term in s.terms():
            f = fan_out(term).view(term.in_shape)
            parts = f.split(source_channels(stages, term), 0)
            for i, part in zip(term.sources, parts):
                part = part.reshape(-1).to(s.weight.dtype)
                totals[i] = part if totals[i] is None else totals[i] + part
    inputs = totals.pop(INPUT)
    if inputs is None:
        raise ValueError("no stage reads the network input")
    return inputs, [totals[l].to(stages[l].weight.device) for l in range(len(stages))]
