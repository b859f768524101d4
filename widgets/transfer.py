"""Models in, runs out (no Panel imports): a user's model file joins a session's model choices,
and the current run leaves as a ``spikescope.io.save_run`` file."""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

from spikescope import io

from .catalog import shared_dataset

#: Largest model file the upload accepts (bytes).
MAX_UPLOAD_BYTES = 20_000_000
#: Whether uploaded TorchScript (which is code) is loaded: off unless the server is started
#: with ``panel serve app/ --args --trust-uploaded-code`` (or SPIKESCOPE_TRUST_UPLOADED_CODE=1).
TRUST_UPLOADED_CODE = os.environ.get("SPIKESCOPE_TRUST_UPLOADED_CODE", "") == "1"
UPLOAD_PREFIX = "upload: "
#: Data sets an uploaded model may take (the one matching its input shape is used).
UPLOAD_DATASETS = ("digits", "digits28", "mnist1d")
#: Session parameters that reproduce a run (with the cursor ``t``).
RUN_PARAMS = ("model", "dataset", "sample", "code", "encoding", "percentile", "timesteps",
              "threshold", "leak", "neuron", "reset", "clamp_delay", "t")


class Transfer:
    """Upload and export; mixed into :class:`widgets.session.Session`."""

    def load_upload(self, data: bytes, filename: str = "model") -> io.ModelReport:
        """Load a user's model file (``spikescope.io.load_model``, size limit
        ``MAX_UPLOAD_BYTES``, never unpickles code; TorchScript only with
        ``TRUST_UPLOADED_CODE``) and report its layers.

        A convertible model joins the model choices of this session only and is selected;
        the report of one that is not says why. Errors of a bad file are raised
        (``ModelLoadError``, ``UnsafeModelError``, ...) and change nothing.
        """
        model = io.load_model(bytes(data), max_bytes=MAX_UPLOAD_BYTES, strict=False,
                              allow_torchscript=TRUST_UPLOADED_CODE)
        shape, ds = upload_input(model)
        report = io.inspect_model(model, shape)
        if not report.convertible:
            return report
        model.dataset = ds
        name = UPLOAD_PREFIX + (Path(filename).name or "model")
        while name in self.param.model.objects and name not in self.uploads:
            name += "'"
        self.uploads[name] = model
        if name not in self.param.model.objects:
            self.param.model.objects = [*self.param.model.objects, name]
        if self.model == name:
            self._nets = OrderedDict((k, v) for k, v in self._nets.items() if k[0] != name)
            self.recompute()
        else:
            self.model = name
        return report

    def run_params(self) -> dict:
        """The parameters that reproduce the current run (JSON-ready)."""
        out = {k: getattr(self, k) for k in RUN_PARAMS}
        out.update(label=self.label, trained_snn=self.trained,
                   lambdas=[float(v) for v in self.net.lambdas])
        return out

    def export_run(self) -> bytes:
        """The current run as a ``spikescope.io.save_run`` file (.npz): parameters, the
        recording, the input image, the reference output and (if any) the reconstruction."""
        plots = {"input_image": self.input_image(),
                 "reference_output": self.ann_output.cpu().numpy()}
        rec = self.reconstruction(self.timesteps)
        if rec is not None:
            plots["reconstruction"] = rec
        with tempfile.TemporaryDirectory() as d:
            path = io.save_run(Path(d) / "run.npz", self.run_params(), self.recording,
                               plots=plots)
            return path.read_bytes()


def upload_input(model: torch.nn.Module) -> tuple[tuple[int, ...], str]:
    """Input shape per sample and a shipped data set of that shape for an uploaded model."""
    shape = getattr(model, "input_shape", None)
    for name in UPLOAD_DATASETS:
        try:
            x, _ = shared_dataset(name, "test")
        except Exception:  # noqa: BLE001 - a data set that is not available here
            continue
        if shape is not None:
            if tuple(shape) == tuple(x.shape[1:]):
                return tuple(shape), name
            continue
        try:  # TorchScript does not say: try the data set's samples up to any unsupported op
            with torch.no_grad():
                h = x[:1]
                for m in (model if isinstance(model, torch.nn.Sequential) else [model]):
                    if isinstance(m, io.UnsupportedLayer):
                        break
                    h = m(h)
        except Exception:  # noqa: BLE001 - does not take this input
            continue
        return tuple(x.shape[1:]), name
    what = f"input shape {tuple(shape)}" if shape is not None else "an input"
    raise ValueError(f"no shipped data set fits the model's {what}; the dashboard has "
                     f"{', '.join(UPLOAD_DATASETS)}")
