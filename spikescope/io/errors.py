"""What cannot be read or converted: the loading errors and the unsupported-layer placeholder."""

from __future__ import annotations

import torch
from torch import nn

from ..convert.parse import ConversionError
from ..errors import ModelLoadError as ModelLoadError
from ..errors import RunFileError as RunFileError
from ..errors import UnsafeModelError as UnsafeModelError


class UnsupportedLayer(nn.Module):
    """Placeholder for a layer spikescope cannot convert (so it can be reported)."""

    spikescope_leaf = True  # a layer of its own when the model is traced

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__()
        self.kind, self.detail = kind, detail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ConversionError(f"unsupported layer {self.kind} {self.detail}".strip())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}" + (f", {self.detail}" if self.detail else "")
