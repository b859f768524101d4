"""Event-camera (DVS / ATIS) data: file formats, an event emulator, binning and filtering.

Events are a numpy structured array of dtype :data:`EVENT_DTYPE` (fields x, y, p, t; see
:mod:`.events`). This module gathers the public names of

- :mod:`.events`: the event dtype, :func:`make_events` / :func:`check_events`, N-MNIST
  binary files (Orchard et al. 2015) and AEDAT4 files (iniVation DV), read and write;
- :mod:`.dvs_emulator`: :func:`emulate` (an N-MNIST-like recording of a still image),
  :func:`bin_events` and the filters :func:`filter_hot_pixels`, :func:`refractory_filter`
  and :func:`clip_sigma` (3-sigma clipping, thesis Sec. 4.2.2.2).

``spikescope.dvs`` (the old module name) is this module.
"""

from .dvs_emulator import (
    bin_events,
    clip_sigma,
    emulate,
    emulate_video,
    filter_hot_pixels,
    refractory_filter,
    saccade_path,
    to_time_major,
)
from .events import (
    AEDAT4_MAGIC,
    EVENT_DTYPE,
    NMNIST_MAX_T_US,
    NMNIST_SIZE,
    NMNIST_SPLITS,
    EventFileError,
    check_events,
    decode_nmnist,
    encode_nmnist,
    make_events,
    nmnist_files,
    read_aedat4,
    read_nmnist,
    read_nmnist_folder,
    write_aedat4,
    write_nmnist,
    write_nmnist_folder,
)

__all__ = ["AEDAT4_MAGIC", "EVENT_DTYPE", "NMNIST_MAX_T_US", "NMNIST_SIZE", "NMNIST_SPLITS",
           "EventFileError", "bin_events", "check_events", "clip_sigma", "decode_nmnist",
           "emulate", "emulate_video", "encode_nmnist", "filter_hot_pixels", "make_events",
           "nmnist_files", "read_aedat4", "read_nmnist", "read_nmnist_folder",
           "refractory_filter", "saccade_path", "to_time_major", "write_aedat4",
           "write_nmnist", "write_nmnist_folder"]
