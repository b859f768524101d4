"""The public API: every name the README, the DESIGN contract and the notebooks use imports
and works, and the old module paths resolve to the same objects as the new ones."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import spikescope as ss
from spikescope import zoo

OLD_PATHS = {
    "spikescope.network": "spikescope.sim.network",
    "spikescope.recording": "spikescope.sim.recording",
    "spikescope.layers": "spikescope.sim.stages",
    "spikescope.exact": "spikescope.sim.exact",
    "spikescope.layerwise": "spikescope.sim.layerwise",
    "spikescope.kernels": "spikescope.neurons.numba_kernel",
    "spikescope.encoding": "spikescope.codes.encoders",
    "spikescope.ttfs": "spikescope.codes.ttfs",
    "spikescope.pattern": "spikescope.codes.pattern",
    "spikescope.signal_encoders": "spikescope.codes.signal_encoders",
    "spikescope.datasets": "spikescope.data.datasets",
    "spikescope.dvs": "spikescope.data.dvs",
    "spikescope.train": "spikescope.training",
    "spikescope.recurrent": "spikescope.training.recurrent",
    "spikescope.rules": "spikescope.training.rules",
    "spikescope.sampling": "spikescope.training.sampling",
}

# name -> attributes the README, DESIGN.md's core contract and the notebooks use
CONTRACT = {
    "spikescope": ["convert", "compute_lambdas", "normalize", "ConversionError",
                   "SUPPORTED_LAYERS", "SpikingNetwork", "Recording", "CODES", "NEURONS",
                   "register_code", "register_neuron", "NeuronParams", "if_step", "zoo",
                   "datasets", "io", "energy", "dvs", "metrics", "train", "sweep", "jets"],
    "spikescope.zoo": ["load", "names", "accuracy", "load_network", "snn_info"],
    "spikescope.datasets": ["load", "names"],
    "spikescope.metrics": ["ann_ops", "confusion_matrix", "activation_correlation"],
    "spikescope.energy": ["PLATFORMS", "edp", "tradeoff", "ann_point", "compare_ann_snn",
                          "deploy_loihi", "early_decision", "early_decision_curve",
                          "network_counts", "pareto_front", "per_sample_ops",
                          "platforms_table"],
    "spikescope.dvs": ["read_nmnist", "write_nmnist", "emulate", "bin_events", "clip_sigma",
                       "to_time_major"],
    "spikescope.io": ["load_model", "to_nir", "from_nir", "inspect_model", "save_run",
                      "load_run"],
    "spikescope.train": ["SNN", "fit", "predict", "spike_count_cross_entropy", "save", "load",
                         "to_spiking_network"],
    "spikescope.sweep": ["Sweep", "run", "load_results"],
    "spikescope.jets": ["CLASSES", "ENV_VAR", "FEATURES", "compare", "load_jet_mlp",
                        "load_jets", "train_jet_mlp"],
    "spikescope.neurons": ["NeuronParams", "if_step", "init_state", "rate_current_curve",
                           "NeuronModel", "NEURONS", "register_neuron"],
    "spikescope.encoding": ["encode"],
    "spikescope.experiments": ["error_vs_ops"],
    "spikescope.pattern": ["truncate"],
    "spikescope.recording": ["Recording"],
    "spikescope.recurrent": ["RecurrentSNN", "SpikingMLP"],
    "spikescope.rules": ["BPTT", "EProp", "Manhattan", "Trainer", "accuracy",
                         "compare_gradients"],
    "spikescope.sampling": ["entropy", "mala", "predictive"],
    "spikescope.signal_encoders": ["encode_signal"],
}


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_contract_names_import(module):
    mod = importlib.import_module(module)
    missing = [n for n in CONTRACT[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_module_paths_are_the_new_modules(old):
    assert importlib.import_module(old) is importlib.import_module(OLD_PATHS[old])


def test_readme_example_runs():
    model = zoo.load("digits-cnn")
    x_train, _ = ss.datasets.load("digits", "train")
    x, y = ss.datasets.load("digits", "test")
    net = ss.convert(model, x_train[:200], percentile=99.9)
    rec = net.run(x[:40], timesteps=60, record=("spikes",))
    acc = rec.accuracy_curve(y[:40])
    assert isinstance(acc, np.ndarray) and acc.shape == (60,) and acc[-1] > 0.8
    assert len(net.lambdas) == len(net.layer_names) == len(rec.spike_counts)
    assert rec.synaptic_ops.shape == (60,) and float(rec.synaptic_ops[-1]) > 0
    assert rec.spike_trains[0].dtype == torch.bool and rec.membrane is None
    assert rec.output_counts.shape == (60, 40, 10) and rec.predictions().shape == (40,)
    assert ss.metrics.ann_ops(model, (1, 8, 8)) > 0
    assert set(ss.CODES) >= {"rate", "ttfs", "ttfs-dyn-thresh", "ttfs-clamped", "pattern",
                             "direct"}
    assert set(ss.NEURONS) >= {"if", "lif"}


def test_one_registry_message_everywhere():
    """Unknown names get the same "unknown X; available: ..." error from every registry."""
    cases = [(lambda: ss.convert(zoo.load("digits-mlp"), torch.rand(4, 64), code="nope"),
              "unknown spike code 'nope'; available: rate"),
             (lambda: ss.convert(zoo.load("digits-mlp"), torch.rand(4, 64), neuron="nope"),
              "unknown neuron model 'nope'; available: if, lif"),
             (lambda: ss.CODES["nope"], "unknown spike code"),
             (lambda: ss.NEURONS["nope"], "unknown neuron model")]
    for call, message in cases:
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
            call()


def test_convert_leaves_the_callers_model_alone():
    model = zoo.load("digits-cnn").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ss.convert(model, torch.rand(8, 1, 8, 8))
    assert model.training, "convert() switched the caller's model to eval mode"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
