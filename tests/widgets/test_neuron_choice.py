"""The session's neuron-model choice: the registry's names, passed to convert, kept consistent
with the leak."""

import pytest
import torch

import spikescope.neurons
from spikescope.neurons import NEURONS, register_neuron
from widgets import catalog
from widgets.controls import ControlsView
from widgets.session import Session


@pytest.fixture
def if_copy():
    """A neuron model registered by user code (a copy of IF), unregistered afterwards."""

    @register_neuron("if-copy")
    class IFCopy(spikescope.neurons.IF):
        pass

    yield "if-copy"
    del NEURONS["if-copy"]


@pytest.fixture
def converts(monkeypatch):
    """The ``neuron`` argument of every conversion a session asks for."""
    seen = []
    real = catalog.convert

    def spy(*args, **kwargs):
        seen.append(kwargs.get("neuron"))
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "convert", spy)
    return seen


def test_a_registered_neuron_model_is_a_choice_and_runs_like_if(one_thread, if_copy, converts):
    s = Session(model="digits-mlp", timesteps=40)
    assert s.param.neuron.objects == NEURONS.names() and if_copy in s.param.neuron.objects
    assert s.neuron == "if" and converts[-1] == "if"
    assert if_copy in ControlsView(s).neuron.options
    counts_if = s.recording.output_counts.clone()
    net_if = s.net
    s.neuron = if_copy
    assert s.error == "", s.error
    assert converts[-1] == if_copy and s.net is not net_if, "no conversion with the new model"
    assert torch.equal(s.recording.output_counts, counts_if)


def test_neuron_model_and_leak_stay_consistent(one_thread, converts):
    s = Session(model="digits-mlp", timesteps=20)
    net_if = s.net
    s.leak = 0.9  # the "if" model does not leak: the leaky model is selected
    assert (s.neuron, s.leak, s.error) == ("lif", 0.9, "")
    assert converts[-1] == "lif"
    s.neuron = "if"  # choosing the non-leaky model sets the leak to 1
    assert (s.neuron, s.leak, s.error) == ("if", 1.0, "")
    assert s.net is net_if, "the first network (if, leak 1) is cached"
    assert Session(model="digits-mlp", timesteps=20, leak=0.95).neuron == "lif"
