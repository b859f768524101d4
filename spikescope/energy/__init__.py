"""What an answer costs: energy, delay and energy-delay product (EDP) of ANNs and SNNs.

- :mod:`.costs`: Horowitz 45 nm per-operation energies (ISSCC 2014) and the thesis' relative
  cost model (Rueckauer 2020, eq. 2.32).
- :mod:`.pattern_code`: operations of n-bit temporal pattern codes and thesis Table 2.7.
- :mod:`.platforms`: chips' joules per synaptic op and seconds per step, with sources.
- :mod:`.tradeoffs`: EDP, accuracy vs cost per time step (thesis Fig. 3.10), early decision,
  Pareto front.
- :mod:`.loihi`: Loihi-style quantization and neurocore estimate (thesis Table 3.1).
"""

from .costs import (
    HOROWITZ_45NM_J,
    HOROWITZ_SOURCE,
    MEMORIES,
    CostModel,
    NetworkCounts,
    ann_energy_j,
    c_add,
    c_mac,
    c_shift,
    compare_ann_snn,
    network_counts,
    relative_cost,
    snn_energy_j,
)
from .loihi import (
    LOIHI_CORE_LIMITS,
    RESOURCES,
    CoreLimits,
    LayerSpec,
    LoihiDeployment,
    deploy_loihi,
    estimate_cores,
    fc_layers,
    layer_specs,
    quantize_weights,
)
from .pattern_code import (
    format_table_2_7,
    pattern_ops,
    quantize_activation,
    table_2_7,
    tpc_counts,
)
from .platforms import (
    BLOUW_SOURCE,
    PLATFORMS,
    SURVEY_SOURCE,
    THESIS_SOURCE,
    Platform,
    add_platform,
    edit_platform,
    get_platform,
    platforms_table,
    reset_platforms,
)
from .tradeoffs import (
    ann_point,
    decision_samples,
    decision_steps,
    decision_summary,
    early_decision,
    early_decision_curve,
    edp,
    output_lead,
    pareto_front,
    per_sample_ops,
    tradeoff,
    tradeoff_curves,
)

__all__ = [
    "BLOUW_SOURCE", "HOROWITZ_45NM_J", "HOROWITZ_SOURCE", "LOIHI_CORE_LIMITS", "MEMORIES",
    "PLATFORMS", "RESOURCES", "SURVEY_SOURCE", "THESIS_SOURCE", "CoreLimits", "CostModel",
    "LayerSpec", "LoihiDeployment", "NetworkCounts", "Platform", "add_platform", "ann_energy_j",
    "ann_point", "c_add", "c_mac", "c_shift", "compare_ann_snn", "decision_samples",
    "decision_steps", "decision_summary",
    "deploy_loihi", "early_decision", "early_decision_curve", "edit_platform", "edp",
    "estimate_cores", "fc_layers", "format_table_2_7", "get_platform", "layer_specs",
    "network_counts", "output_lead", "pareto_front", "pattern_ops", "per_sample_ops",
    "platforms_table", "quantize_activation", "quantize_weights", "relative_cost",
    "reset_platforms", "snn_energy_j", "table_2_7", "tpc_counts", "tradeoff",
    "tradeoff_curves",
]
