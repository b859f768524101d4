"""Data: the data-set registry (:mod:`.datasets`, IDX/MNIST included) and event-camera
formats, emulator and binning (:mod:`.dvs`). ``spikescope.datasets`` and ``spikescope.dvs``
are these modules."""
