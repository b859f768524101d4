"""Print the Table 2.7 reproduction on digits-cnn and the Loihi core estimates.

    .venv/bin/python scripts/energy_tables.py [--timesteps 50]

Table 2.7 (thesis Sec. 2.3.3.3): error and relative cost (eq. 2.32, units of one adder) of the
ANN, the rate SNN and n-bit temporal pattern codes (TPC) at 32/16/8-bit activations, first
with 8-bit weights (the thesis' text), then with weights as wide as the activations (how the
thesis' numbers scale). Then the neurocore estimate of a 1156-512-10 fully connected net
(thesis Sec. 3.3.2.1: 30 cores) and of the quantized digits-cnn.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from spikescope import CODES, convert, datasets, energy, zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=50, help="rate-SNN steps for Table 2.7")
    args = ap.parse_args()
    torch.set_num_threads(1)
    pd.set_option("display.width", 160)

    model = zoo.load("digits-cnn")
    xtr, _ = datasets.load("digits", "train")
    x, y = datasets.load("digits", "test")
    net = convert(model, xtr[:500], percentile=99.9)
    rec = net.run(x, args.timesteps, record=())
    have = "present" if "pattern" in CODES else "absent"
    print(f"digits-cnn, {len(x)} test images, pattern code {have}"
          "; TPC adds = synaptic ops, n shifts per neuron\n")
    for wb, what in ((8, "8-bit weights"), (None, "weights as wide as activations")):
        tab = energy.table_2_7(net, x, y, weight_bits=wb, recording=rec)
        src = tab[tab.model.str.startswith("TPC")].groupby("model").ops_source.first()
        print("TPC ops from: " + "; ".join(f"{m}: {s}" for m, s in src.items()))
        print(f"Table 2.7 structure on digits-cnn, {what} (cost relative to one adder; "
              "(Nx) = reduction vs the ANN)")
        print(energy.format_table_2_7(tab).to_string(), "\n")

    print("Loihi neurocores of a 1156-512-10 fully connected net (Table 3.1 limits)")
    cores = energy.estimate_cores(energy.fc_layers([1156, 512, 10]))
    cols = ["layer", "n_neurons", "cores", "limiting", "neurons_per_core",
            "input_axons_per_core", "output_axons_per_core", "synapses_per_core"]
    print(cores[cols].to_string(index=False))
    print(f"total: {cores.attrs['total_cores']} cores ({cores.attrs['chips']} chip); "
          "thesis (NxTF): 30 cores = 11 input + 18 hidden + 1 output\n")
    eff = energy.CoreLimits(synapses=32 * 1024)
    cores32 = energy.estimate_cores(energy.fc_layers([1156, 512, 10]), limits=eff)
    print("same net if a core held only 32k synapses (storage overhead of the synapse format)")
    print(cores32[cols].to_string(index=False))
    print(f"total: {cores32.attrs['total_cores']} cores\n")

    dep = energy.deploy_loihi(net, x, y, timesteps=100)
    print(f"digits-cnn on Loihi: 8-bit weights, exponents {dep.weight_exponents}, integer "
          f"thresholds {dep.thresholds}; accuracy after 100 steps float "
          f"{dep.accuracy_float:.4f}, quantized {dep.accuracy_quantized:.4f}")
    print(dep.cores[cols].to_string(index=False))
    print(f"total: {dep.total_cores} cores")


if __name__ == "__main__":
    main()
