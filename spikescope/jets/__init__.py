"""Jet tagging on the hls4ml LHC jet data (OpenML 42468 "hls4ml_lhc_jets_hlf").

Borzyszkowski (2019) classified jets into five classes -- gluon (g), light quark (q), W boson
(w), Z boson (z) and top quark (t) -- from 16 high-level jet-substructure features with the
hls4ml fully-connected network 16-64-32-32-5 (ReLU; Adam, lr 1e-4, minibatch 1024), then ran
the converted SNN on Loihi: ANN 75.2 %, SNN 69.7 % (SNN Toolbox) / 69.8 % (Nengo-Loihi), the Z
class the most confused. This package makes that case reproducible for users who have the data:

- :mod:`spikescope.data.jets`: :func:`read_jets` (ARFF/CSV, schema checks), :func:`load_jets`
  (fixed stratified 70/10/20 % split, standardization), :func:`one_hot`.
- :mod:`.model`: :func:`jet_mlp`, :func:`train_jet_mlp`, :func:`load_jet_mlp` (weights saved
  as ``jet-mlp.safetensors`` + ``jet-mlp.json`` next to the data).
- :mod:`.compare`: :func:`compare` converts the ANN and runs the SNN on the signed,
  standardized features (analog input current); :func:`per_class_change` says in words which
  classes the SNN loses or gains.

No download happens at run time: see ``data/README.md`` for where to get the file.
"""

from ..data.jets import (
    CLASS_NAMES,
    CLASSES,
    ENV_VAR,
    FEATURES,
    HOWTO,
    LABEL,
    OPENML_ID,
    OPENML_NAME,
    SPLIT_FRACTIONS,
    SPLIT_SEED,
    SPLITS,
    JetData,
    JetsSchemaError,
    load,
    load_jets,
    one_hot,
    read_jets,
    resolve_path,
    split_indices,
    standardize,
)
from ..metrics import row_normalize
from .compare import JetComparison, compare, per_class_accuracy, per_class_change
from .model import MODEL_NAME, jet_mlp, load_jet_mlp, model_info, train_jet_mlp, weights_path

__all__ = ["CLASSES", "CLASS_NAMES", "ENV_VAR", "FEATURES", "HOWTO", "LABEL", "MODEL_NAME",
           "OPENML_ID", "OPENML_NAME", "SPLITS", "SPLIT_FRACTIONS", "SPLIT_SEED", "JetComparison",
           "JetData", "JetsSchemaError", "compare", "jet_mlp", "load", "load_jet_mlp",
           "load_jets", "model_info", "one_hot", "per_class_accuracy", "per_class_change",
           "read_jets", "resolve_path", "row_normalize", "split_indices", "standardize",
           "train_jet_mlp", "weights_path"]
