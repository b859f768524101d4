"""Data: the data-set registry (:mod:`.datasets`), IDX/MNIST files (:mod:`.idx`), the hls4ml
LHC jet reader (:mod:`.jets`) and event-camera data (:mod:`.dvs`: formats in :mod:`.events`,
emulator, binning and filters in :mod:`.dvs_emulator`). ``spikescope.datasets`` and
``spikescope.dvs`` are these modules."""
