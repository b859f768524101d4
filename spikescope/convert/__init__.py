"""ANN-to-SNN conversion: parse a torch model into stages (:mod:`.parse`, BatchNorm folded),
normalize the weights (:mod:`.normalize`) and build the spiking network (:mod:`.to_snn`)."""

from .normalize import check_percentile, compute_lambdas, normalize
from .parse import SUPPORTED_LAYERS, ConversionError, parse
from .to_snn import convert

__all__ = ["SUPPORTED_LAYERS", "ConversionError", "check_percentile", "compute_lambdas",
           "convert", "normalize", "parse"]
