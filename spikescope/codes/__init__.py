"""Spike codes behind one interface (:class:`Code`, :mod:`.base`): input encoding, neuron
behaviour and readout. Registered here: "rate" (the base class), "ttfs", "ttfs-dyn-thresh",
"ttfs-clamped" (:mod:`.ttfs`), "pattern" (:mod:`.pattern`) and "direct" (:mod:`.direct`).
Input encoders: :mod:`.encoders`; encoders of 1-D signals: :mod:`.signal_encoders`.

``CODES`` maps names to codes; ``@register_code(name)`` adds one.
"""

from .base import CODES, Code, gate_max, register_code
from .direct import Direct
from .pattern import Pattern, PatternRecording
from .ttfs import TTFS, TTFSClamped, TTFSDynThresh

__all__ = ["CODES", "TTFS", "Code", "Direct", "Pattern", "PatternRecording", "TTFSClamped",
           "TTFSDynThresh", "gate_max", "register_code"]
